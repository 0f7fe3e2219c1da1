"""The destination rule: hosts read as a resolver reads them, addresses judged by class."""

from __future__ import annotations

import ipaddress

import pytest

from services.core.http.destinations import (
    DestinationPolicy,
    DestinationRefused,
    DestinationSettings,
    host_address,
)

LOOPBACK_SPELLINGS = [
    "127.0.0.1",
    "127.1",
    "127.0.1",
    "2130706433",
    "0x7f000001",
    "0x7f.1",
    "0177.0.0.1",
    "0177.1",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "[::127.0.0.1]",
    "[64:ff9b::127.0.0.1]",
    "[2002:7f00:1::]",
    "[::1]",
    "localhost",
    "localhost.",
    "LOCALHOST",
    "api.localhost",
    "127.0.0.1.",
]


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0X7F000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("10.1.2.3", "10.1.2.3"),
        ("169.254.43518", "169.254.169.254"),
        ("[::ffff:127.0.0.1]", "::ffff:127.0.0.1"),
        ("[fe80::1%eth0]", "fe80::1"),
        ("1.2.3.4.", "1.2.3.4"),
    ],
)
def test_numeric_spellings_are_read_as_inet_aton_reads_them(host: str, address: str) -> None:
    assert host_address(host) == ipaddress.ip_address(address)


@pytest.mark.parametrize(
    "host", ["consumer.example.vn", "1.2.3.4.5", "256.1.1.1", "1_0.0.0.1", "08.1.1.1", "+1", ""]
)
def test_names_and_impossible_numbers_are_not_addresses(host: str) -> None:
    # a resolver would look these up as names; the sink judges what they resolve to
    assert host_address(host) is None


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
def test_every_spelling_of_loopback_is_refused(host: str) -> None:
    with pytest.raises(DestinationRefused, match="is loopback"):
        DestinationPolicy().check_url(f"https://{host}:8443/hook")


@pytest.mark.parametrize(
    ("host", "label"),
    [
        ("169.254.169.254", "link-local"),
        ("[fe80::1]", "link-local"),
        ("[::ffff:169.254.169.254]", "link-local"),
        ("0", "unspecified"),
        ("0.0.0.0", "unspecified"),
        ("[::]", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("[ff02::1]", "multicast"),
        ("255.255.255.255", "broadcast"),
    ],
)
def test_other_refused_classes(host: str, label: str) -> None:
    with pytest.raises(DestinationRefused, match=f"is {label}"):
        DestinationPolicy().check_url(f"https://{host}/hook")


@pytest.mark.parametrize(
    "host", ["consumer.example.vn", "10.0.0.7", "203.0.113.9", "[2001:db8::1]", "evil.test"]
)
def test_ordinary_hosts_pass_the_text_check(host: str) -> None:
    assert DestinationPolicy().check_url(f"https://{host}/hook") is None


def test_allowed_networks_open_a_refused_class_and_nothing_more(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NDXP_PUSH_ALLOWED_NETWORKS", "127.0.0.0/8, 169.254.10.0/24")
    policy = DestinationPolicy.from_env()
    for host in ("127.1", "2130706433", "[::ffff:127.0.0.1]", "169.254.10.7"):
        policy.check_url(f"https://{host}/hook")
    with pytest.raises(DestinationRefused, match="link-local"):
        policy.check_url("https://169.254.169.254/latest")
    with pytest.raises(DestinationRefused, match="loopback"):
        policy.check_url("https://[::1]/hook")  # ::1 is not in 127.0.0.0/8
    policy.check_url("http://localhost/hook")  # one of its addresses is allowed: the sink uses it


def test_the_deprecated_loopback_switch_still_allows_loopback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NDXP_PUSH_ALLOWED_NETWORKS", raising=False)
    monkeypatch.setenv("NDXP_GATEWAY_PUSH_ALLOW_LOOPBACK", "true")
    policy = DestinationPolicy.from_env()
    policy.check_url("http://localhost:8099/hook")
    policy.check_url("https://[::1]/hook")
    with pytest.raises(DestinationRefused, match="link-local"):
        policy.check_url("https://169.254.169.254/latest")


def test_a_bad_network_is_a_settings_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NDXP_PUSH_ALLOWED_NETWORKS", "127.0.0.1/8")  # host bits set
    with pytest.raises(ValueError, match="not a valid IPv4 network"):
        DestinationSettings()
