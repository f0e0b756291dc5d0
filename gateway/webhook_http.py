"""The webhook sender's HTTP client: every connection goes to an address that was checked.

When a connection is opened, the URL's host is resolved once, every address it resolves to is
checked by gateway/netpolicy.py (one refused address refuses the host: a name must not mix a
public address with an internal one), and the socket is connected to one of those checked
addresses, never to the name, so a second lookup cannot answer differently (DNS rebinding).
TLS still speaks to the name: SNI and certificate verification are for the URL's host, and so
is the Host header. No proxy from the environment, no redirects, the response body is never read.

A failure is reported as a coarse class (:data:`DeliveryError`), never as an exception's text or
the response's bytes: what a partner reads must not map the inside of the network.
"""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Callable, Iterable, Sequence
from ipaddress import ip_address
from typing import Literal, get_args

import httpcore
import httpx

from gateway.netpolicy import AddressNotAllowed, IPAddress, UrlNotAllowed, check_address, check_url

log = logging.getLogger(__name__)

DeliveryError = Literal[
    "http-status",  # the endpoint answered, not 2xx (its status code is shown next to it)
    "timeout",
    "connection-refused",
    "connection-error",
    "tls-error",
    "dns-error",
    "address-not-allowed",  # the host is, or resolves to, an address webhooks may not reach
    "signing-secret-unusable",  # the stored secret does not open for this endpoint: rotate it
    "endpoint-deleted",
]
DELIVERY_ERRORS: frozenset[str] = frozenset(get_args(DeliveryError))
MAX_ADDRESSES = 4  # of one host's checked addresses, tried in order until one connects
Resolver = Callable[[str, int], Sequence[str]]


class HostNotFound(Exception):
    """The host has no address (or the lookup failed)."""


def system_resolver(host: str, port: int) -> list[str]:
    """The host's addresses from the system resolver (getaddrinfo), in its order, without repeats."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise HostNotFound(f"{host}: {exc}") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class CheckedBackend(httpcore.SyncBackend):
    """Opens TCP connections only to checked addresses of the host (see the module doc)."""

    def __init__(self, *, allow_loopback: bool, resolver: Resolver = system_resolver) -> None:
        self.allow_loopback = allow_loopback
        self.resolver = resolver

    def addresses(self, host: str, port: int) -> list[IPAddress]:
        """Every address of ``host``, each checked; raises AddressNotAllowed or HostNotFound."""
        host = host.strip("[]")
        try:
            found: Sequence[str] = [str(ip_address(host))]  # a literal address is not looked up
        except ValueError:
            found = self.resolver(host, port)
        if not found:
            raise HostNotFound(f"{host} has no address")
        return [check_address(host, a, allow_loopback=self.allow_loopback) for a in found]

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        failure: Exception | None = None
        for address in self.addresses(host, port)[:MAX_ADDRESSES]:
            try:  # to the checked address itself: nothing is looked up again
                return super().connect_tcp(str(address), port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure


class CheckedTransport(httpx.HTTPTransport):
    """httpx's transport on a connection pool whose every connection is opened by ``backend``
    (httpx takes no network backend, so its pool is replaced by an equivalent one that does)."""

    def __init__(self, backend: CheckedBackend, *, verify: ssl.SSLContext | bool = True) -> None:
        super().__init__(verify=verify, trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=backend,
        )


def make_client(
    *,
    allow_loopback: bool,
    timeout_s: float,
    resolver: Resolver = system_resolver,
    verify: ssl.SSLContext | bool = True,
) -> httpx.Client:
    """The client deliveries are POSTed with; ``resolver`` and ``verify`` are for tests."""
    transport = CheckedTransport(CheckedBackend(allow_loopback=allow_loopback, resolver=resolver), verify=verify)
    return httpx.Client(
        transport=transport,
        timeout=httpx.Timeout(timeout_s),
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": "coalition"},
    )


def send(
    client: httpx.Client, url: str, body: bytes, headers: dict[str, str], *, allow_loopback: bool
) -> tuple[int | None, DeliveryError | None]:
    """POSTs ``body``: (HTTP status or None, None when 2xx else the error class). The details of
    a failure go to the log (for the operator), never into the answer."""
    try:
        check_url(url, allow_loopback=allow_loopback)  # what registration checks, again (older rows)
        with client.stream("POST", url, content=body, headers=headers) as response:
            code = response.status_code  # the body is never read
    except Exception as exc:
        error = classify(exc)
        log.info("webhook POST to %s: %s (%s: %s)", url, error, type(exc).__name__, exc)
        return None, error
    return code, None if 200 <= code < 300 else "http-status"


def classify(exc: BaseException) -> DeliveryError:
    """The coarse class of a failed POST."""
    if isinstance(exc, AddressNotAllowed | UrlNotAllowed | httpx.InvalidURL | httpx.UnsupportedProtocol):
        return "address-not-allowed"
    if isinstance(exc, HostNotFound):
        return "dns-error"
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    causes = list(_causes(exc))
    if any(isinstance(e, ssl.SSLError | ssl.CertificateError) for e in causes):
        return "tls-error"
    if any(isinstance(e, ConnectionRefusedError) for e in causes):
        return "connection-refused"
    if not isinstance(exc, httpx.HTTPError):
        log.error("webhook POST failed unexpectedly", exc_info=exc)
    return "connection-error"


def _causes(exc: BaseException) -> Iterable[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo += [e.__cause__, e.__context__]
