"""The admin commands through a running serve's routes (``/admin/health/*``).

The key goes in the ``Authorization`` header only (never the URL, never the command
line). Every failure becomes one ``AdminError`` line: unreachable (exit 3), key refused
(exit 2), target refused (exit 2), anything else the serve answered (exit 3).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import httpx

from runtime.admin._errors import UNREACHABLE, USAGE, AdminError

__all__ = ["call_serve", "check_url"]


def check_url(url: str) -> str:
    """``url`` without a trailing ``/``, checked: http(s), a host, no credentials or query.

    Raises:
        AdminError: Not such a URL (exit 2).
    """
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError as exc:
        raise AdminError(f"--serve {url!r} is not a URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AdminError(f"--serve {url!r}: give the serve's http(s)://HOST:PORT URL")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise AdminError(
            f"--serve: no credentials, query or fragment in the URL; the key comes from "
            f"--api-key-env or --api-key-file (got {parts.scheme}://{parts.hostname}...)"
        )
    return url.rstrip("/")


async def call_serve(
    url: str, route: str, body: dict[str, Any], *, key: str | None, wait: float
) -> dict[str, Any]:
    """POST ``body`` to ``url + route``; the reply's JSON object.

    Raises:
        AdminError: Unreachable, key refused, target refused, or an error reply.
    """
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        async with httpx.AsyncClient(timeout=wait, trust_env=False) as client:
            reply = await client.post(url + route, json=body, headers=headers)
    except httpx.TimeoutException:
        raise AdminError(
            f"the serve at {url} did not answer within {wait:g} s (--timeout)", UNREACHABLE
        ) from None
    except httpx.HTTPError as exc:
        reason = str(exc).strip() or type(exc).__name__
        raise AdminError(f"cannot reach the serve at {url}: {reason}", UNREACHABLE) from None
    if reply.status_code == 200:
        data = _json(reply)
        if isinstance(data, dict):
            return data
        raise AdminError(f"{url}{route} answered 200 without a JSON object", UNREACHABLE)
    raise _refused(url, route, reply)


def _refused(url: str, route: str, reply: httpx.Response) -> AdminError:
    code, message = _error_of(reply)
    status = reply.status_code
    if status == 401:
        return AdminError(
            f"the serve at {url} refused the key (401): give its key with --api-key-env "
            "NAME or --api-key-file FILE"
        )
    if status == 404 and code == "unknown_target":
        return AdminError(f"unknown target: {message}")
    if status == 404:
        return AdminError(
            f"{url} has no route {route} (not a serve, or one older than the admin routes)",
            UNREACHABLE,
        )
    if status == 400:
        return AdminError(f"the serve refused the request: {message}", USAGE)
    return AdminError(f"the serve answered {status}: {message}", UNREACHABLE)


def _json(reply: httpx.Response) -> object:
    try:
        return reply.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def _error_of(reply: httpx.Response) -> tuple[str | None, str]:
    """The error ``code`` and message of an OpenAI-shaped error reply (else the text)."""
    data = _json(reply)
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        code = error.get("code")
        return (code if isinstance(code, str) else None), str(error.get("message", ""))
    text = " ".join(reply.text.split())[:300]
    return None, text or reply.reason_phrase
