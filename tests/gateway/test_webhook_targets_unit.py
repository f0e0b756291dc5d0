"""Unit tests of where webhooks may go (gateway/netpolicy.py) and of the client that sends them
(gateway/webhook_http.py): the address rule for every form of an internal address, IPv6
included; the URL rule at registration; the resolver → connect path (the address connected to
is the one checked, with a resolver that answers differently the second time); TLS for the
name while connected to the checked address; no redirects; failures as coarse classes only.

The receivers are real HTTP(S) servers on 127.0.0.1; fake resolvers map test names to them.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
from collections.abc import Sequence
from pathlib import Path

import httpcore
import pytest
from pydantic import ValidationError

from gateway.netpolicy import AddressNotAllowed, UrlNotAllowed, check_url, refusal
from gateway.settings import GatewaySettings
from gateway.webhook_http import CheckedBackend, HostNotFound, make_client, send, system_resolver
from tests.gateway.webhook_receiver import Receiver

# ------------------------------------------------------------------ the address rule

REFUSED = {
    # IPv4
    "127.0.0.1": "loopback",
    "127.255.255.254": "loopback",
    "10.0.0.5": "private",
    "172.16.0.1": "private",
    "172.31.255.255": "private",
    "192.168.1.1": "private",
    "169.254.169.254": "link-local",  # cloud metadata
    "100.64.0.1": "shared",  # CGNAT
    "100.127.255.254": "shared",
    "0.0.0.0": "unspecified",
    "0.1.2.3": "unspecified",
    "224.0.0.1": "multicast",
    "239.255.255.250": "multicast",
    "240.0.0.1": "reserved",
    "255.255.255.255": "reserved",
    "192.0.0.8": "reserved",
    "198.18.0.1": "reserved",
    "192.0.2.10": "documentation",
    "203.0.113.7": "documentation",
    # IPv6
    "::1": "loopback",
    "::": "unspecified",
    "::ffff:127.0.0.1": "ipv4-mapped",
    "::ffff:10.0.0.5": "ipv4-mapped",
    "::ffff:169.254.169.254": "ipv4-mapped",
    "::ffff:8.8.8.8": "ipv4-mapped",  # public, but only over an IPv4 socket
    "::127.0.0.1": "ipv4-embedded",  # IPv4-compatible
    "64:ff9b::a9fe:a9fe": "ipv4-embedded",  # NAT64 of 169.254.169.254
    "64:ff9b:1::7f00:1": "ipv4-embedded",
    "2002:7f00:1::1": "ipv4-embedded",  # 6to4 of 127.0.0.1
    "2001:0:4136:e378:8000:63bf:3fff:fdd2": "ipv4-embedded",  # Teredo
    "fc00::1": "private",
    "fd12:3456:789a::1": "private",
    "fec0::1": "private",
    "fe80::1": "link-local",
    "fe80::1%eth0": "link-local",
    "ff02::1": "multicast",
    "ff05::1:3": "multicast",
    "2001:db8::1": "documentation",
    "3fff::1": "documentation",
    "2001:2::1": "reserved",  # benchmarking
    "100::1": "reserved",  # discard-only
    "4000::1": "reserved",  # outside global unicast
}
ALLOWED = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "100.63.255.255",  # just below CGNAT
    "100.128.0.0",  # just above
    "2606:4700:4700::1111",
    "2a00:1450:4001:82a::200e",
]


@pytest.mark.parametrize(("address", "reason"), REFUSED.items(), ids=list(REFUSED))
def test_internal_addresses_are_refused_with_their_reason(address: str, reason: str) -> None:
    assert refusal(address) == reason


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(address: str) -> None:
    assert refusal(address) is None
    assert refusal(address, allow_loopback=True) is None


def test_allow_loopback_lets_loopback_through_and_nothing_else() -> None:
    assert refusal("127.0.0.1", allow_loopback=True) is None
    assert refusal("127.8.9.10", allow_loopback=True) is None
    assert refusal("::1", allow_loopback=True) is None
    still = {a: r for a, r in REFUSED.items() if r != "loopback"}
    assert {a: refusal(a, allow_loopback=True) for a in still} == still  # ::ffff:127.0.0.1 included


# ------------------------------------------------------------------ the URL rule (registration)

REFUSED_URLS = [
    "https://127.0.0.1/hooks",
    "https://[::1]/hooks",
    "https://[::1]:8443/hooks",
    "https://10.0.0.5/hooks",
    "https://169.254.169.254/latest/meta-data/",
    "https://100.64.0.1/hooks",
    "https://[::ffff:127.0.0.1]/hooks",
    "https://[::ffff:7f00:1]/hooks",
    "https://[fe80::1%25eth0]/hooks",
    "https://[fd00::1]/hooks",
    "https://0x7f000001/hooks",
    "https://0x7F.0.0.1/hooks",
    "https://2130706433/hooks",
    "https://017700000001/hooks",
    "https://0177.0.0.1/hooks",
    "https://127.1/hooks",
    "https://127.0.0.01/hooks",
    "https://10.0.0.5./hooks",
    "https://localhost:6399/hooks",
    "https://localhost./hooks",
    "https://api.localhost/hooks",
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://printer.local/hooks",
    "https://intranet/hooks",
    "https://host.home.arpa/hooks",
    "https://1.0.0.127.in-addr.arpa/hooks",
    "https://user:pw@pos.example.com/hooks",
    "https://user@pos.example.com/hooks",
    "https://pos.example.com@127.0.0.1/hooks",
    "https://pos.example.com\\@127.0.0.1/hooks",
    "https://pos.example.com /hooks",
    "https://pos.exa\tmple.com/hooks",
    "https://pos_example.com/hooks",
    "https://pös.example.com/hooks",
    "https://pos.example.com:99999/hooks",
    "https://[::1/hooks",
    "http://pos.example.com/hooks",
    "ftp://pos.example.com/hooks",
    "gopher://127.0.0.1:6379/_INFO",
    "https:///hooks",
    "not a url at all",
]


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_registration_refuses_internal_and_odd_urls(url: str) -> None:
    with pytest.raises(UrlNotAllowed):
        check_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://pos.example.com/hooks",
        "https://pos.example.com:8443/coalition/hooks?k=v",
        "https://POS.Example.COM./hooks",
        "https://xn--ps-fka.example.com/hooks",
        "https://8.8.8.8/hooks",
        "https://[2606:4700:4700::1111]/hooks",
    ],
)
def test_registration_accepts_public_https_urls(url: str) -> None:
    assert check_url(url) == url
    assert check_url(url, allow_loopback=True) == url


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8717/hooks", "https://127.0.0.1/hooks", "http://localhost:8000/h", "http://[::1]:80/h"]
)
def test_loopback_urls_only_with_allow_loopback(url: str) -> None:
    assert check_url(url, allow_loopback=True) == url
    with pytest.raises(UrlNotAllowed):
        check_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5/hooks",
        "https://169.254.169.254/",
        "http://[::ffff:127.0.0.1]/h",
        "http://0x7f000001/h",
        "http://pos.example.com/h",  # plain http only to loopback
    ],
)
def test_allow_loopback_allows_nothing_else(url: str) -> None:
    with pytest.raises(UrlNotAllowed):
        check_url(url, allow_loopback=True)


# ------------------------------------------------------------------ resolve, check, connect


class ScriptedResolver:
    """A resolver that answers from a script, one answer per call (the last one repeats)."""

    def __init__(self, *answers: Sequence[str]) -> None:
        self.answers = list(answers)
        self.asked: list[str] = []

    def __call__(self, host: str, port: int) -> Sequence[str]:
        self.asked.append(host)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_connection_goes_to_the_address_that_was_checked(receiver: Receiver) -> None:
    """The name is looked up once; a second answer (here an internal address) is never used."""
    resolver = ScriptedResolver(["127.0.0.1"], ["10.0.0.5"])
    with make_client(allow_loopback=True, timeout_s=5, resolver=resolver) as client:
        response = client.post(receiver.url_at("hooks.partner.test"), content=b"{}", headers={"Connection": "close"})
    assert response.status_code == 200
    assert resolver.asked == ["hooks.partner.test"]
    (request,) = receiver.received
    assert request.headers["Host"] == f"hooks.partner.test:{receiver.port}"


def test_a_refused_first_answer_is_not_retried_with_a_later_one(receiver: Receiver) -> None:
    resolver = ScriptedResolver(["10.0.0.5"], ["127.0.0.1"])  # a rebinding name, internal first this time
    with (
        make_client(allow_loopback=True, timeout_s=5, resolver=resolver) as client,
        pytest.raises(AddressNotAllowed, match=r"10\.0\.0\.5, a private address"),
    ):
        client.post(receiver.url_at("hooks.partner.test"), content=b"{}")
    assert resolver.asked == ["hooks.partner.test"] and receiver.received == []


def test_the_socket_is_opened_to_the_checked_address_not_the_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without loopback allowed: a public first answer, loopback on any later lookup; the one
    socket opened goes to the public address (recorded here instead of dialled)."""
    dialled: list[tuple[str, int]] = []

    def dial(address: tuple[str, int], *_: object, **__: object) -> socket.socket:
        dialled.append(address)
        raise ConnectionRefusedError(111, "recorded, not dialled")

    monkeypatch.setattr(httpcore._backends.sync.socket, "create_connection", dial)
    resolver = ScriptedResolver(["93.184.216.34"], ["127.0.0.1"])
    with make_client(allow_loopback=False, timeout_s=5, resolver=resolver) as client:
        code, error = send(client, "https://hooks.partner.test/hooks", b"{}", {}, allow_loopback=False)
    assert (code, error) == (None, "connection-refused")
    assert dialled == [("93.184.216.34", 443)]
    assert resolver.asked == ["hooks.partner.test"]


@pytest.mark.parametrize(
    "answer",
    [["93.184.216.34", "10.0.0.5"], ["2606:4700:4700::1111", "::ffff:127.0.0.1"], ["169.254.169.254"], ["fe80::1"]],
)
def test_one_internal_address_refuses_the_host(monkeypatch: pytest.MonkeyPatch, answer: list[str]) -> None:
    dialled: list[object] = []
    monkeypatch.setattr(httpcore._backends.sync.socket, "create_connection", lambda *a, **k: dialled.append(a))
    with make_client(allow_loopback=True, timeout_s=5, resolver=ScriptedResolver(answer)) as client:
        assert send(client, "https://mixed.partner.test/h", b"{}", {}, allow_loopback=True) == (
            None,
            "address-not-allowed",
        )
    assert dialled == []


@pytest.mark.parametrize("host", ["0x7f000001", "2130706433", "127.1", "0177.0.0.1", "localhost"])
def test_the_system_resolver_path_refuses_loopback_spelled_oddly(host: str) -> None:
    """The delivery-time check on what getaddrinfo answers, whatever registration let through."""
    backend = CheckedBackend(allow_loopback=False, resolver=system_resolver)
    with pytest.raises(AddressNotAllowed, match=r"127\.0\.0\.1, a loopback address"):
        backend.addresses(host, 443)


def test_an_unknown_host_is_a_dns_error() -> None:
    with pytest.raises(HostNotFound):
        system_resolver("no-such-host.partner.test", 443)
    with make_client(allow_loopback=False, timeout_s=5, resolver=ScriptedResolver([])) as client:
        assert send(client, "https://gone.partner.test/h", b"{}", {}, allow_loopback=False) == (None, "dns-error")


# ------------------------------------------------------------------ TLS, redirects, what is shown


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for hooks.partner.test (openssl), and its key."""
    tmp = tmp_path_factory.mktemp("tls")
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"),
            *("-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=hooks.partner.test"),
            *("-addext", "subjectAltName=DNS:hooks.partner.test"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_tls_is_for_the_name_while_connected_to_the_checked_address(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    sni: list[str | None] = []
    server_tls.sni_callback = lambda _sock, name, _ctx: sni.append(name)  # type: ignore[assignment,misc,return-value]
    trust = ssl.create_default_context(cafile=str(cert))
    resolver = ScriptedResolver(["127.0.0.1"])
    with (
        Receiver(tls=server_tls) as tls_receiver,
        make_client(allow_loopback=True, timeout_s=5, resolver=resolver, verify=trust) as client,
    ):
        good = send(client, tls_receiver.url_at("hooks.partner.test"), b"{}", {}, allow_loopback=True)
        wrong = send(client, tls_receiver.url_at("other.partner.test"), b"{}", {}, allow_loopback=True)
    assert good == (200, None)
    assert wrong == (None, "tls-error")  # the certificate is checked against the name, not the address
    assert sni == ["hooks.partner.test", "other.partner.test"]
    assert tls_receiver.received[0].headers["Host"] == f"hooks.partner.test:{tls_receiver.port}"


def test_a_redirect_is_not_followed(receiver: Receiver) -> None:
    with Receiver(statuses=[302], reply_headers={"Location": receiver.url}) as redirecting:
        with make_client(allow_loopback=True, timeout_s=5) as client:
            assert send(client, redirecting.url, b"{}", {}, allow_loopback=True) == (302, "http-status")
        assert len(redirecting.received) == 1
    assert receiver.received == []


def test_failures_are_classes_without_text(receiver: Receiver) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # accepts, never answers
    try:
        with make_client(allow_loopback=True, timeout_s=0.5) as client:
            port = silent.getsockname()[1]
            assert send(client, f"http://127.0.0.1:{port}/h", b"{}", {}, allow_loopback=True) == (None, "timeout")
            assert send(client, f"http://127.0.0.1:{closed_port()}/h", b"{}", {}, allow_loopback=True) == (
                None,
                "connection-refused",
            )
            receiver.statuses[:] = [500]
            receiver.reply = b"redis_version:7.2.4 internal secret bytes"
            assert send(client, receiver.url, b"{}", {}, allow_loopback=True) == (500, "http-status")
    finally:
        silent.close()


def test_no_proxy_from_the_environment_is_used(monkeypatch: pytest.MonkeyPatch, receiver: Receiver) -> None:
    """A proxy would connect to the name itself, past the check."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{closed_port()}")
    with make_client(allow_loopback=True, timeout_s=5) as client:
        assert send(client, receiver.url, b"{}", {}, allow_loopback=True) == (200, None)
    assert len(receiver.received) == 1


def test_allow_loopback_is_off_by_default_and_for_local_mode_only() -> None:
    production = {"operator_token": "o" * 32, "secrets_key": "s" * 32, "rpc_url": "https://rpc.example.com"}
    production |= {"chain_id": 8453, "public_url": "https://gateway.example.com"}  # named outside local mode
    assert GatewaySettings(mode="rpc", **production).webhook_allow_loopback is False
    assert GatewaySettings(mode="local").webhook_allow_loopback is False
    assert GatewaySettings(mode="local", webhook_allow_loopback=True).webhook_allow_loopback is True
    with pytest.raises(ValidationError, match="COALITION_WEBHOOK_ALLOW_LOOPBACK is for local mode only"):
        GatewaySettings(mode="rpc", webhook_allow_loopback=True, **production)
