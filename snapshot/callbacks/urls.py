"""Callback URLs: the server-side request forgery guard applied at submit time and again before each delivery.

The URL is chosen by the caller, so only https to a DNS host name (never an IP literal, in any spelling a
resolver or browser accepts) matching SNAPSHOT_CALLBACK_ALLOWED_HOSTS is accepted, and what is shown or
logged is `redact(url)`: Logic Apps callback URLs carry a signature (`sig=`) in the query, a bearer secret.
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, urlsplit, urlunsplit

from snapshot.settings import CALLBACK_HOSTS_SETTING, DNS_LABEL, is_ip_literal

MAX_URL_LENGTH = 2048
# Control characters, space, backslash and anything outside ASCII: refused anywhere in the URL, since
# parsers disagree on them (urllib drops tabs and newlines, WHATWG reads `\` as `/`).
_UNSAFE_CHARS = re.compile(r"[^\x21-\x7e]|\\")


def host_allowed(host: str, allowed_hosts: list[str]) -> bool:
    """`*.suffix` matches any subdomain of suffix at any depth (not suffix itself); a name matches itself."""
    host = host.lower()
    for pattern in allowed_hosts:
        pattern = pattern.strip().lower()
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and len(host) > len(pattern) - 1:
                return True
        elif host == pattern:
            return True
    return False


def validate_callback_url(url: str, allowed_hosts: list[str]) -> str:
    """Return the normalised URL, or raise ValueError saying why it is refused.

    The message never repeats the URL (its query string is a secret); the caller reports it as a 400
    on the field `callbackUrl`.
    """
    if not isinstance(url, str) or not url:
        raise ValueError("must be a non-empty https URL")
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"must be at most {MAX_URL_LENGTH} characters long (it has {len(url)})")
    if _UNSAFE_CHARS.search(url):
        raise ValueError("may contain only printable ASCII characters, without spaces or backslashes")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise ValueError("is not a valid URL") from None
    if parts.scheme.lower() != "https":
        raise ValueError("must use https")
    netloc = parts.netloc
    if not netloc:
        raise ValueError("must be an absolute URL with a host name")
    if "@" in netloc:
        raise ValueError("must not contain a user name or password")
    host_part, port = _split_host_port(netloc)
    if host_part.startswith("[") or is_ip_literal(host_part):
        raise ValueError("must name a host, not an IP address")
    host = host_part.lower()
    labels = host.split(".")
    if not all(DNS_LABEL.fullmatch(label) for label in labels):
        raise ValueError("must have a valid DNS host name (ASCII letters, digits, hyphens and dots)")
    if not host_allowed(host, allowed_hosts):
        shown = ", ".join(allowed_hosts) or "(none)"
        raise ValueError(f"host {host!r} is not allowed; allowed hosts: {shown} (app setting {CALLBACK_HOSTS_SETTING})")
    normalised = urlunsplit(
        SplitResult(
            scheme="https",
            netloc=host if port in (None, 443) else f"{host}:{port}",
            path=parts.path or "/",
            query=parts.query,
            fragment="",  # never sent to the server anyway
        )
    )
    if len(normalised) > MAX_URL_LENGTH:
        raise ValueError(f"must be at most {MAX_URL_LENGTH} characters long")
    return normalised


def _split_host_port(netloc: str) -> tuple[str, int | None]:
    if netloc.startswith("["):
        end = netloc.find("]")
        if end < 0:
            raise ValueError("is not a valid URL")
        host, rest = netloc[: end + 1], netloc[end + 1 :]
    else:
        host, sep, port_text = netloc.partition(":")
        rest = sep + port_text
    if not rest or rest == ":":
        return host, None
    if not rest.startswith(":") or not rest[1:].isdigit() or not rest[1:].isascii():
        raise ValueError("has an invalid port")
    port = int(rest[1:])
    if not 1 <= port <= 65535:
        raise ValueError("has a port out of range 1-65535")
    return host, port


def redact(url: str) -> str:
    """scheme://host[:port]/path of `url`: no userinfo, query or fragment. Safe for logs and job records."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<invalid URL>"
    if not parts.scheme or not host:
        return "<invalid URL>"
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None else f"{host}:{port}"
    return urlunsplit((parts.scheme.lower(), netloc, parts.path, "", ""))
