// The customer page (/me): sign in with a wallet (EIP-4361 via personal_sign, EIP-1193 provider)
// or with a one-time link (/me/link#<token>), "add to wallet" (EIP-3326 wallet_switchEthereumChain,
// EIP-3085 wallet_addEthereumChain when the wallet does not know the chain, then EIP-747
// wallet_watchAsset with the token's logo), times in the browser's time zone, the erasure of the
// customer's personal data (typed confirmation, then a JSON post) and joining the program.
(function () {
  "use strict";
  var UNKNOWN_CHAIN = 4902; // EIP-3326: the wallet does not know this chain
  function say(id, text) { var el = document.getElementById(id); if (el) { el.textContent = text; } }
  async function postJson(url, body) {
    var r = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json", "Accept": "application/json" }, body: JSON.stringify(body), credentials: "same-origin" });
    if (!r.ok) {
      var problem = {};
      try { problem = await r.json(); } catch (e) { /* not JSON */ }
      throw new Error(problem.detail || ("HTTP " + r.status));
    }
    return r.status === 204 ? null : r.json();
  }

  // --- sign in with a wallet
  async function signIn() {
    if (!window.ethereum) { say("signin-status", "No wallet found in this browser: install one (e.g. MetaMask) and reload, or open this page in your wallet app."); return; }
    try {
      say("signin-status", "Asking your wallet…");
      var accounts = await window.ethereum.request({ method: "eth_requestAccounts" });
      var address = accounts[0];
      var challenge = await postJson("/v1/auth/challenge", { address: address });
      say("signin-status", "Sign the message in your wallet (no transaction, no fee).");
      var signature = await window.ethereum.request({ method: "personal_sign", params: [challenge.message, address] });
      var session = await postJson("/v1/auth/session", { message: challenge.message, signature: signature });
      await postJson("/me/session", { token: session.token });
      window.location.replace("/me");
    } catch (err) { say("signin-status", "Sign-in failed: " + err.message); }
  }

  // --- sign in with a one-time link: the token is in the fragment, which no server sees
  function linkSignIn(button) {
    var token = window.location.hash.replace(/^#/, "");
    if (window.history && window.history.replaceState) { window.history.replaceState(null, "", window.location.pathname); }
    if (!token) { say("link-status", "This link has no sign-in code: open the whole link from your partner's app."); return; }
    button.disabled = false;
    button.addEventListener("click", async function () {
      button.disabled = true;
      say("link-status", "Opening…");
      try {
        await postJson("/me/link", { token: token });
        window.location.replace("/me");
      } catch (err) { say("link-status", "This link cannot be used: " + err.message); }
    });
  }

  // --- add the token to the wallet, on the right chain
  async function switchChain(d) {
    var chainId = "0x" + Number(d.chainId).toString(16);
    try {
      await window.ethereum.request({ method: "wallet_switchEthereumChain", params: [{ chainId: chainId }] });
    } catch (err) {
      var code = err && (err.code || (err.data && err.data.originalError && err.data.originalError.code));
      if (code !== UNKNOWN_CHAIN) { throw err; }
      if (!d.rpcUrl) { throw new Error("your wallet does not know " + d.chainName + " (chain " + d.chainId + "): add it to your wallet first"); }
      await window.ethereum.request({
        method: "wallet_addEthereumChain",
        params: [{ chainId: chainId, chainName: d.chainName, rpcUrls: [d.rpcUrl], nativeCurrency: { name: d.nativeSymbol, symbol: d.nativeSymbol, decimals: 18 } }]
      });
    }
  }
  async function watchAsset(button) {
    if (!window.ethereum) { say("watch-status", "No wallet found in this browser."); return; }
    var d = button.dataset;
    try {
      say("watch-status", "Asking your wallet to use " + d.chainName + "…");
      await switchChain(d);
      var added = await window.ethereum.request({
        method: "wallet_watchAsset",
        params: { type: "ERC20", options: { address: d.address, symbol: d.symbol, decimals: Number(d.decimals), image: d.image } }
      });
      say("watch-status", added ? d.symbol + " is in your wallet." : "Not added.");
    } catch (err) { say("watch-status", "Could not add the token: " + (err && err.message ? err.message : err)); }
  }

  // --- times: written in UTC by the server, shown in the browser's time zone with the zone named
  function localTimes() {
    var stamps = document.querySelectorAll("time[data-local]");
    if (!stamps.length || !window.Intl) { return; }
    var fmt = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short" });
    stamps.forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (!isNaN(when.getTime())) { el.title = el.textContent; el.textContent = fmt.format(when); }
    });
    say("time-zone", Intl.DateTimeFormat().resolvedOptions().timeZone || "your time zone");
  }

  // --- erase my personal data: the button works once the word is typed; then the page signs out
  function eraseForm(input, button) {
    var word = input.dataset.word;
    input.addEventListener("input", function () { button.disabled = input.value.trim().toLowerCase() !== word; });
    button.addEventListener("click", async function () {
      if (input.value.trim().toLowerCase() !== word) { return; }
      button.disabled = true;
      say("erase-status", "Erasing…");
      try {
        var done = await postJson("/me/erasure", { confirm: word });
        window.location.replace(done.page);
      } catch (err) { say("erase-status", "Nothing was erased: " + err.message); button.disabled = false; }
    });
  }

  // --- a member's share link (/me?referral_code=...): kept for this tab until the visitor joins
  function sharedCode() {
    var code = new URLSearchParams(window.location.search).get("referral_code");
    try {
      if (code) { window.sessionStorage.setItem("referral_code", code); }
      return code || window.sessionStorage.getItem("referral_code");
    } catch (err) { return code; }
  }

  // --- join the program with the wallet signed in
  function enrolForm(form) {
    form.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      var email = document.getElementById("enrol-email").value.trim();
      var body = email ? { email: email } : {};
      var code = sharedCode();
      if (code) { body.referral_code = code; } // issue 20: joined through a member's share link
      say("enrol-status", "Joining…");
      try {
        await postJson("/me/enrolment", body);
        window.location.replace("/me");
      } catch (err) { say("enrol-status", "Could not join: " + err.message); }
    });
  }

  // --- the consents' grid: a switch changed is posted at once (an email allowed waits for its confirmation)
  function consentGrid(grid) {
    grid.addEventListener("change", async function (ev) {
      var box = ev.target;
      if (!box.classList || !box.classList.contains("c-consent")) { return; }
      var partner = box.dataset.partner ? Number(box.dataset.partner) : null;
      box.disabled = true;
      say("consent-status", "Saving…");
      try {
        await postJson("/me/consents", { cells: [{ channel: box.dataset.channel, partner_id: partner, granted: box.checked }] });
        window.location.reload();
      } catch (err) { say("consent-status", "Not saved: " + err.message); box.checked = !box.checked; box.disabled = false; }
    });
  }

  var signin = document.getElementById("wallet-signin");
  if (signin) {
    signin.addEventListener("click", signIn);
    var apps = document.getElementById("wallet-apps");
    if (apps && !window.ethereum) { apps.hidden = false; }
  }
  var link = document.getElementById("link-continue");
  if (link) { linkSignIn(link); }
  var watch = document.getElementById("watch-asset");
  if (watch) { watch.addEventListener("click", function () { watchAsset(watch); }); }
  var eraseInput = document.getElementById("erase-confirm"), eraseButton = document.getElementById("erase-submit");
  if (eraseInput && eraseButton) { eraseForm(eraseInput, eraseButton); }
  sharedCode();
  var enrol = document.getElementById("enrol-form");
  if (enrol) { enrolForm(enrol); }
  var grid = document.getElementById("consent-grid");
  if (grid) { consentGrid(grid); }
  localTimes();
})();
