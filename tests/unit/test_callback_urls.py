"""Callback URLs: the SSRF guard, the allowed-hosts setting, redaction."""

from __future__ import annotations

import pytest

from snapshot.callbacks.urls import redact, validate_callback_url
from snapshot.settings import parse_allowed_hosts

LOGIC = ["*.logic.azure.com"]


GOOD = (
    "https://prod-12.westeurope.logic.azure.com/workflows/abc/runs/123/run?api-version=2016-06-01&sp=%2Fruns&sig=s3cr3t"
)


def test_a_logic_apps_callback_url_is_accepted_and_normalised() -> None:
    assert validate_callback_url(GOOD, LOGIC) == GOOD
    assert (
        validate_callback_url("HTTPS://Prod-12.WestEurope.Logic.Azure.com:443/x?sig=A#frag", LOGIC)
        == "https://prod-12.westeurope.logic.azure.com/x?sig=A"
    )
    assert validate_callback_url("https://a.logic.azure.com", LOGIC) == "https://a.logic.azure.com/"
    assert validate_callback_url("https://a.logic.azure.com:8443/p", LOGIC) == "https://a.logic.azure.com:8443/p"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://prod-12.westeurope.logic.azure.com/x", "https"),
        ("ftp://prod-12.westeurope.logic.azure.com/x", "https"),
        ("//prod-12.westeurope.logic.azure.com/x", "https"),
        ("https:///x", "host"),
        ("https://user:pw@prod-12.westeurope.logic.azure.com/x", "user name"),
        ("https://user@prod-12.westeurope.logic.azure.com/x", "user name"),
        ("https://prod-12.westeurope.logic.azure.com:99999/x", "port"),
        ("https://prod-12.westeurope.logic.azure.com:0/x", "port"),
        ("https://prod-12.westeurope.logic.azure.com:12ab/x", "port"),
        ("https://prod-12.westeurope.logic.azure.com/x y", "ASCII"),
        ("https://prod-12.westeurope.logic.azure.com\t/x", "ASCII"),
        ("https://evil.com\\@prod-12.westeurope.logic.azure.com/", "backslash"),
        ("https://prod-12.westeurope.logic.azure.com./x", "DNS host name"),
        ("https://prod_12.westeurope.logic.azure.com/x", "DNS host name"),
        ("https://%70rod.logic.azure.com/x", "DNS host name"),
        ("https://pröd.logic.azure.com/x", "ASCII"),
        ("https://[::1/x", "valid URL"),
        ("", "non-empty"),
    ],
)
def test_malformed_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_callback_url(url, LOGIC)


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "[fe80::1%25eth0]",
        "2130706433",
        "0x7f000001",
        "0x7f.1",
        "0177.0.0.1",
        "127.1",
        "169.254.169.254",
        "10.0.0.1.",
        "foo.0x1",
        "foo.123",
    ],
)
def test_ip_literals_are_refused_in_every_spelling(host: str) -> None:
    everything = ["*.logic.azure.com", "localhost", "*.0.0.1", "*.1", "*.123"]
    with pytest.raises(ValueError, match="not an IP address"):
        validate_callback_url(f"https://{host}/hook", everything)


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("prod-12.westeurope.logic.azure.com", True),
        ("a.logic.azure.com", True),
        ("a.b.c.logic.azure.com", True),
        ("PROD-12.WestEurope.LOGIC.azure.COM", True),
        ("logic.azure.com", False),
        ("evillogic.azure.com", False),
        ("logic.azure.com.evil.com", False),
        ("prod-12.westeurope.logic.azure.com.evil.com", False),
        ("azure.com", False),
        ("example.com", False),
        ("localhost", False),
    ],
)
def test_wildcard_matches_subdomains_at_any_depth_only(host: str, allowed: bool) -> None:
    url = f"https://{host}/hook"
    if allowed:
        assert validate_callback_url(url, LOGIC) == f"https://{host.lower()}/hook"
    else:
        with pytest.raises(ValueError, match="not allowed"):
            validate_callback_url(url, LOGIC)


def test_an_exact_name_matches_only_itself() -> None:
    assert validate_callback_url("https://localhost:8443/hook", ["localhost"]) == "https://localhost:8443/hook"
    assert validate_callback_url("https://LocalHost/hook", ["localhost"]) == "https://localhost/hook"
    for host in ("a.localhost", "localhost.evil.com", "xlocalhost"):
        with pytest.raises(ValueError, match="not allowed"):
            validate_callback_url(f"https://{host}/hook", ["localhost"])


def test_nothing_is_allowed_by_an_empty_list() -> None:
    with pytest.raises(ValueError, match="not allowed"):
        validate_callback_url(GOOD, [])


def test_overlong_urls_are_refused() -> None:
    base = "https://a.logic.azure.com/"
    assert validate_callback_url(base + "x" * (2048 - len(base)), LOGIC)
    with pytest.raises(ValueError, match="2048"):
        validate_callback_url(base + "x" * (2049 - len(base)), LOGIC)


def test_error_messages_never_repeat_the_signature() -> None:
    for url in (
        GOOD.replace("https", "http"),
        GOOD.replace("prod-12.westeurope.logic.azure.com", "evil.com"),
        GOOD + " ",
        GOOD + "x" * 3000,
    ):
        with pytest.raises(ValueError) as info:
            validate_callback_url(url, LOGIC)
        assert "s3cr3t" not in str(info.value)


def test_allowed_hosts_setting_is_parsed() -> None:
    assert parse_allowed_hosts("*.logic.azure.com") == ["*.logic.azure.com"]
    assert parse_allowed_hosts(" *.Logic.Azure.com , localhost,hooks.example.org ") == [
        "*.logic.azure.com",
        "localhost",
        "hooks.example.org",
    ]


@pytest.mark.parametrize(
    "setting",
    [
        "",
        " ",
        "*.logic.azure.com,",
        "*.logic.azure.com,,localhost",
        "https://x.logic.azure.com",
        "x.logic.azure.com/path",
        "x.logic.azure.com:443",
        "user@x.logic.azure.com",
        "*",
        "*.*.azure.com",
        "a*.azure.com",
        "127.0.0.1",
        "bad_host.example",
    ],
)
def test_a_bad_allowed_hosts_setting_names_the_setting(setting: str) -> None:
    with pytest.raises(ValueError, match="SNAPSHOT_CALLBACK_ALLOWED_HOSTS"):
        parse_allowed_hosts(setting)


def test_redact_keeps_scheme_host_and_path_only() -> None:
    assert redact(GOOD) == "https://prod-12.westeurope.logic.azure.com/workflows/abc/runs/123/run"
    assert redact("https://u:p@h.example:8443/p?sig=x#f") == "https://h.example:8443/p"
    assert redact("not a url") == "<invalid URL>"
