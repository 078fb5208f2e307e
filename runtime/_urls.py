"""Endpoint URL safety: only plain http(s) to a host that is not a metadata service.

Backend URLs come from config only (RELIABILITY.md, Security). A URL with credentials,
another scheme, a query or fragment, spaces or control characters, or a link-local /
cloud-metadata host is refused at config load, with a message saying what to write
instead. Messages never show the user info, query or fragment: any may hold a key.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import unicodedata
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from runtime._redaction import is_secret_field, redact_text

__all__ = ["api_base", "check_url", "describe_base_url", "normalize_url"]

_METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "instance-data"})
_METADATA_IPS = (ipaddress.ip_network("fd00:ec2::254/128"),)  # AWS IMDS over IPv6
_SECRET_PARAMS = frozenset({"auth", "sig", "signature", "pass", "pwd", "jwt", "session"})
"""Query parameter names holding credentials beyond the redaction field names."""


def check_url(url: str) -> str | None:
    """Why ``url`` may not be an endpoint URL, or None if it is acceptable.

    Only http(s); no credentials, query or fragment; no link-local or cloud
    metadata address (the classic SSRF target). A host name is not resolved here:
    DNS is I/O, and the HTTP layer refuses redirects to another host.
    """
    shown = _redact(url)
    bad = next((c for c in url.strip() if c.isspace() or _is_control(c)), None)
    if bad is not None:
        what = "a space" if bad == " " else f"a whitespace or control character ({bad!r})"
        return f"{shown!r} contains {what}; remove it (or percent-encode it, e.g. %20)"
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        return f"{shown!r} is not a valid URL ({exc}); use http://host:port"
    if parts.scheme.lower() not in ("http", "https"):
        return f"{shown!r} is not an http(s) URL; use http://host:port"
    if parts.username is not None or parts.password is not None:
        return (
            f"{shown!r} contains credentials; remove them and put the key in an "
            "environment variable named by api_key_env"
        )
    if not parts.hostname:
        return f"{shown!r} has no host; use http://host:port"
    if _secret_in_query(parts.query + "&" + parts.fragment):
        return (
            f"{shown!r} carries a key or token in its query string; endpoint URLs take "
            "none: put the key in an environment variable named by api_key_env"
        )
    if parts.query or parts.fragment or url.rstrip().endswith(("?", "#")):
        return f"{shown!r} has a query string or fragment; give only scheme, host, port and path"
    if port == 0:
        return f"{shown!r} has port 0; use the port the server listens on"
    return _host_problem(parts.hostname, shown)


def _is_control(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp")


def _secret_in_query(query: str) -> bool:
    """Whether a parameter's name or value looks like a credential."""
    pairs = parse_qsl(query, keep_blank_values=True)
    return any(
        is_secret_field(name) or name.lower() in _SECRET_PARAMS or redact_text(value) != value
        for name, value in pairs
    )


def _host_problem(host: str, shown: str) -> str | None:
    host = host.lower().rstrip(".")
    refused = f"{shown!r} points at a link-local or cloud metadata address; refused"
    if host in _METADATA_HOSTS:
        return refused
    address = _parse_ip(host)
    if address is None:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_link_local or any(address in net for net in _METADATA_IPS):
        return refused
    return None


def _parse_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        pass
    # The resolver accepts "2852039166", "0xa9fea9fe" and "169.254.43518" as IPv4
    # literals; so must we, or they slip past the link-local check.
    if re.fullmatch(r"[0-9a-fx.]+", host) and not host.endswith("."):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _redact(url: str) -> str:
    """``url`` with any user info, query and fragment replaced by ``***`` (may be secret)."""
    for mark in "?#":
        head, sep, tail = url.partition(mark)
        url = f"{head}{mark}***" if sep and tail.strip() else url
    scheme, sep, rest = url.partition("://")
    authority, slash, tail = rest.partition("/")
    if not sep or "@" not in authority:
        return url
    return f"{scheme}://***@{authority.rsplit('@', 1)[1]}{slash}{tail}"


def normalize_url(url: str) -> str:
    """Canonical form of an acceptable URL: lower-case scheme and host, no trailing ``/``."""
    parts = urlsplit(url.strip())
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(
        (parts.scheme.lower(), host.lower(), parts.path.rstrip("/"), parts.query, parts.fragment)
    )


_API_PATHS = {"ollama": "/api/chat", "openai": "/v1/chat/completions"}


def api_base(url: str) -> str:
    """The base the API paths (``/api/...``, ``/v1/...``) are joined to: ``url``
    without a trailing ``/`` or ``/v1`` (any other path prefix is kept).

    ``http://h:8080/v1`` is how the openai client is given a server; its API paths here
    start with ``/v1`` already, and Ollama's native API is at the root (its OpenAI one
    at ``/v1``), so for both APIs the ``/v1`` goes: ``http://h:8080``.
    """
    base = url.rstrip("/")
    if base.lower().endswith("/v1"):
        base = base[: -len("/v1")].rstrip("/")
    return base


def describe_base_url(name: str, url: str, api: str) -> str:
    """One line saying which form endpoint ``name``'s base URL took, and where its chat
    requests go (for the config check and the start-up log)."""
    base = api_base(url)
    how = "a trailing /v1 was removed; " if base != url.rstrip("/") else ""
    target = base + _API_PATHS.get(api, "")
    return f"endpoint {name!r}: base URL {_redact(base)} ({how}requests go to {_redact(target)})"
