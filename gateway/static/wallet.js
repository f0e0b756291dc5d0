// The customer page: sign in with the wallet (EIP-4361 via personal_sign, EIP-1193 provider)
// and "add to wallet" (EIP-747 wallet_watchAsset). Without a wallet, the page says so.
(function () {
  "use strict";
  function say(id, text) { var el = document.getElementById(id); if (el) { el.textContent = text; } }
  async function postJson(url, body) {
    var r = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), credentials: "same-origin" });
    if (!r.ok) {
      var problem = {};
      try { problem = await r.json(); } catch (e) { /* not JSON */ }
      throw new Error(problem.detail || ("HTTP " + r.status));
    }
    return r.status === 204 ? null : r.json();
  }
  async function signIn() {
    if (!window.ethereum) { say("signin-status", "No wallet found in this browser: install one (e.g. MetaMask) and reload."); return; }
    try {
      say("signin-status", "Asking your wallet…");
      var accounts = await window.ethereum.request({ method: "eth_requestAccounts" });
      var address = accounts[0];
      var challenge = await postJson("/v1/auth/challenge", { address: address });
      say("signin-status", "Sign the message in your wallet (no transaction, no fee).");
      var signature = await window.ethereum.request({ method: "personal_sign", params: [challenge.message, address] });
      var session = await postJson("/v1/auth/session", { message: challenge.message, signature: signature });
      await postJson("/me/session", { token: session.token });
      window.location.reload();
    } catch (err) { say("signin-status", "Sign-in failed: " + err.message); }
  }
  async function watchAsset(button) {
    if (!window.ethereum) { say("watch-status", "No wallet found in this browser."); return; }
    try {
      var added = await window.ethereum.request({
        method: "wallet_watchAsset",
        params: { type: "ERC20", options: { address: button.dataset.address, symbol: button.dataset.symbol, decimals: Number(button.dataset.decimals) } }
      });
      say("watch-status", added ? button.dataset.symbol + " is in your wallet." : "Not added.");
    } catch (err) { say("watch-status", "Could not add the token: " + err.message); }
  }
  var signin = document.getElementById("wallet-signin");
  if (signin) { signin.addEventListener("click", signIn); }
  var watch = document.getElementById("watch-asset");
  if (watch) { watch.addEventListener("click", function () { watchAsset(watch); }); }
})();
