"""Where the hub may send requests on a consumer's behalf (push subscriptions, webhook sinks).

The requests come from the connect workers, inside the hub's network, so an endpoint on the
workers' own host, the link-local range (cloud metadata services), the unspecified address or a
multicast group is refused (SSRF). The rule judges *addresses*, never the URL's text: a host is
read the way a resolver would read it (``127.1``, ``2130706433``, ``0x7f000001``, ``0177.0.0.1``
and ``0`` are all IPv4 literals; ``[::ffff:127.0.0.1]`` is 127.0.0.1; ``localhost.`` is
``localhost``), and a name is judged by the addresses it resolves to when the request is made
(:mod:`services.core.http.guarded`), so a name that resolves to loopback, or is re-pointed there
after it was checked (DNS rebinding), is refused too.

An operator allows networks that a refused class would cover with ``NDXP_PUSH_ALLOWED_NETWORKS``
(comma-separated CIDRs, e.g. ``127.0.0.0/8,::1/128`` for local development).
``NDXP_GATEWAY_PUSH_ALLOW_LOOPBACK=true``, its predecessor, still allows the loopback networks.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Annotated, Final
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

LOOPBACK_NETWORKS: Final[tuple[IPNetwork, ...]] = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
)
REFUSED: Final[tuple[tuple[IPNetwork, str], ...]] = (
    *((network, "loopback") for network in LOOPBACK_NETWORKS),
    (ipaddress.ip_network("169.254.0.0/16"), "link-local"),
    (ipaddress.ip_network("fe80::/10"), "link-local"),
    (ipaddress.ip_network("0.0.0.0/8"), "unspecified"),  # "this network": 0.x reaches the host
    (ipaddress.ip_network("::/128"), "unspecified"),
    (ipaddress.ip_network("224.0.0.0/4"), "multicast"),
    (ipaddress.ip_network("255.255.255.255/32"), "broadcast"),
    (ipaddress.ip_network("ff00::/8"), "multicast"),
)
# IPv6 forms that carry an IPv4 address a stack may end up reaching: IPv4-compatible (::a.b.c.d,
# deprecated but still parsed), NAT64's well-known prefix; mapped and 6to4 have ipaddress helpers.
_COMPATIBLE: Final = ipaddress.ip_network("::/96")
_NAT64: Final = ipaddress.ip_network("64:ff9b::/96")
_IPV4_MAX: Final = 0xFFFFFFFF
_LOCAL_NAMES: Final = ("localhost",)
_LOCAL_ADDRESSES: Final = (ipaddress.IPv4Address("127.0.0.1"), ipaddress.IPv6Address("::1"))
_INET_ATON_PARTS: Final = 4


class DestinationRefused(ValueError):
    """An endpoint whose address the hub does not send requests to."""


def comma_separated(value: object) -> object:
    """A list setting's environment form, ``a,b,c``, as a list (a list stays as it is)."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class DestinationSettings(BaseSettings):
    """The operator's allow-list, read by the gateway (at creation) and connect (per connection)."""

    model_config = SettingsConfigDict(env_prefix="NDXP_PUSH_", extra="ignore")

    allowed_networks: Annotated[list[IPNetwork], NoDecode, BeforeValidator(comma_separated)] = (
        Field(
            default_factory=list,
            description="CIDRs endpoints may be in although a refused class (loopback, "
            "link-local, unspecified, multicast) covers them; comma-separated.",
        )
    )
    allow_loopback: bool = Field(
        default=False,
        validation_alias="NDXP_GATEWAY_PUSH_ALLOW_LOOPBACK",
        description="Deprecated: true adds 127.0.0.0/8 and ::1/128 to allowed_networks.",
    )

    def policy(self) -> DestinationPolicy:
        extra = LOOPBACK_NETWORKS if self.allow_loopback else ()
        return DestinationPolicy((*self.allowed_networks, *extra))


@dataclass(frozen=True)
class DestinationPolicy:
    """Which addresses endpoints may have: any but the refused classes, unless allowed."""

    allowed: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_env(cls) -> DestinationPolicy:
        return DestinationSettings().policy()

    def refusal(self, address: IPAddress) -> str | None:
        """Why ``address`` is refused (its class), or None if requests may go to it."""
        forms = _forms(address)
        if any(form in network for form in forms for network in self.allowed):
            return None
        for form in forms:
            for network, label in REFUSED:
                if form in network:
                    return label
        return None

    def check_address(self, address: IPAddress, host: str | None = None) -> None:
        """:class:`DestinationRefused` if ``address`` (what ``host`` resolved to) is refused."""
        label = self.refusal(address)
        if label is not None:
            shown = f"{host} ({address})" if host and host != str(address) else str(address)
            raise DestinationRefused(
                f"the destination {shown} is {label}: not allowed on this hub "
                "(NDXP_PUSH_ALLOWED_NETWORKS)"
            )

    def check_url(self, url: str) -> None:
        """Refuse ``url`` if its host, read as a resolver would, is a refused address or a name
        that always means this host (``localhost``). Other names are judged when connecting."""
        host = urlsplit(url).hostname or ""
        if _is_local_name(host):  # refused unless one of its addresses is allowed, as the sink does
            if all(self.refusal(address) for address in _LOCAL_ADDRESSES):
                self.check_address(_LOCAL_ADDRESSES[0], host)
            return
        address = host_address(host)
        if address is not None:
            self.check_address(address, host)


def _forms(address: IPAddress) -> tuple[IPAddress, ...]:
    """``address`` and the IPv4 address an IPv6 one carries, if any."""
    if isinstance(address, ipaddress.IPv4Address):
        return (address,)
    carried: list[IPAddress] = [address]
    if address.ipv4_mapped is not None:
        carried.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        carried.append(address.sixtofour)
    if int(address) > 1 and (address in _COMPATIBLE or address in _NAT64):
        carried.append(ipaddress.IPv4Address(int(address) & _IPV4_MAX))
    return tuple(carried)


def _is_local_name(host: str) -> bool:
    name = host.rstrip(".").lower()
    return any(name == local or name.endswith("." + local) for local in _LOCAL_NAMES)


def host_address(host: str) -> IPAddress | None:
    """The address ``host`` spells, read as ``inet_aton`` and a resolver would read it
    (``127.1``, ``2130706433``, ``0x7f000001``, ``0177.0.0.1``, ``[::1]``), or None for a name."""
    text = host.strip("[]").rstrip(".")
    if not text:
        return None
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])  # an IPv6 zone names no other host
    except ValueError:
        return _inet_aton(text)


def _inet_aton(text: str) -> ipaddress.IPv4Address | None:
    parts = text.split(".")
    if not 1 <= len(parts) <= _INET_ATON_PARTS:
        return None
    numbers = [_number(part) for part in parts]
    if any(number is None for number in numbers):
        return None
    values = [number for number in numbers if number is not None]
    *leading, last = values
    if any(value > 0xFF for value in leading):  # noqa: PLR2004 - one byte each
        return None
    room = 8 * (_INET_ATON_PARTS - len(leading))  # the last part fills the remaining bytes
    if last >= 1 << room:
        return None
    total = 0
    for value in leading:
        total = total << 8 | value
    return ipaddress.IPv4Address(total << room | last)


def _number(part: str) -> int | None:
    """A part of an inet_aton address: decimal, 0x hexadecimal or 0-led octal; else None."""
    if not (part.isascii() and part.isalnum()):  # int() would take "1_0", " 1", "+1"
        return None
    lowered = part.lower()
    try:
        if lowered.startswith("0x"):
            return int(lowered[2:] or "0", 16)
        if len(lowered) > 1 and lowered.startswith("0"):
            return int(lowered, 8)
        return int(lowered, 10) if lowered.isdigit() else None
    except ValueError:
        return None


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` (as a URL writes it) always means this host: plain http is allowed to it."""
    if _is_local_name(host):
        return True
    address = host_address(host)
    return address is not None and any(form.is_loopback for form in _forms(address))
