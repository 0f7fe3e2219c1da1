"""An httpx transport that connects only to addresses the :class:`DestinationPolicy` allows.

The host is resolved here (:func:`resolve_host`), each address judged, and the connection made to
the checked address itself: no second lookup happens between the check and the connect, so a name
re-pointed at a refused address after it was checked (DNS rebinding) cannot pass. TLS still
verifies the certificate against the URL's host name (httpcore sends it as SNI) and the ``Host``
header is the URL's, so connecting by address changes nothing else. Proxies from the environment
are not used: through a proxy the address connected to would be the proxy's.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Iterable

import httpcore
import httpx
from httpcore import SOCKET_OPTION, AnyIOBackend, AsyncNetworkBackend, AsyncNetworkStream

from services.core.http.destinations import (
    DestinationPolicy,
    DestinationRefused,
    IPAddress,
    host_address,
)


class RefusedConnection(httpcore.ConnectError):
    """The destination's address is refused; no connection was attempted."""


async def resolve_host(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (tests replace this function with a stub resolver)."""
    literal = host_address(host)
    if literal is not None:
        return [literal]
    loop = asyncio.get_running_loop()
    found = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in found:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


class GuardedBackend(AsyncNetworkBackend):
    """httpcore's backend, connecting only to addresses ``policy`` allows."""

    def __init__(self, policy: DestinationPolicy, inner: AsyncNetworkBackend | None = None):
        self.policy = policy
        self.inner = inner or AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[SOCKET_OPTION] | None = None,
    ) -> AsyncNetworkStream:
        name = host.strip("[]")
        try:
            async with asyncio.timeout(timeout):
                addresses = await resolve_host(name, port)
        except (OSError, TimeoutError) as exc:
            raise httpcore.ConnectError(f"{name} cannot be resolved: {exc}") from exc
        if not addresses:
            raise httpcore.ConnectError(f"{name} resolves to no address")
        allowed = [address for address in addresses if self.policy.refusal(address) is None]
        if not allowed:  # nothing to connect to: the reason is the first address's
            try:
                self.policy.check_address(addresses[0], name)
            except DestinationRefused as exc:
                raise RefusedConnection(str(exc)) from exc
        last: Exception | None = None
        for address in allowed:  # only checked addresses are ever connected to
            try:
                return await self.inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None  # noqa: S101 - allowed is not empty
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[SOCKET_OPTION] | None = None,
    ) -> AsyncNetworkStream:
        raise RefusedConnection("unix sockets are not a destination")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over :class:`GuardedBackend`: redirects are the client's to refuse."""

    def __init__(self, policy: DestinationPolicy, verify: ssl.SSLContext | bool = True) -> None:
        super().__init__(verify=verify, trust_env=False)
        context = verify if isinstance(verify, ssl.SSLContext) else httpx.create_ssl_context(verify)
        # httpx takes no network backend; its pool is the one place to give it one
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=context, network_backend=GuardedBackend(policy)
        )


def guarded_client(
    policy: DestinationPolicy,
    verify: ssl.SSLContext | bool = True,
    timeout: float = 10.0,
    headers: dict[str, str] | None = None,
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` that never follows redirects and connects only where ``policy``
    allows; a refused destination fails the request with ``httpx.ConnectError``."""
    return httpx.AsyncClient(
        transport=GuardedTransport(policy, verify),
        follow_redirects=False,
        trust_env=False,
        timeout=timeout,
        headers=headers,
    )
