"""The bearer-key check and the refusal of keys in URLs (pure).

Keys are compared with ``hmac.compare_digest`` over bytes, so the time taken does not
depend on how much of a guess was right. A key in the query string is refused outright
(even a correct one): URLs end up in proxy logs, browser history and shell history.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Iterable

__all__ = ["QUERY_SECRET_NAMES", "basic_matches", "bearer_matches", "query_secret"]

QUERY_SECRET_NAMES = frozenset(
    {
        "access_token",
        "api_key",
        "apikey",
        "auth",
        "authorization",
        "bearer",
        "key",
        "password",
        "secret",
        "token",
    }
)
"""Query parameters that look like a credential (compared lower-case, ``-`` as ``_``)."""


def query_secret(names: Iterable[str]) -> str | None:
    """The first query parameter name that looks like a credential, or None."""
    for name in names:
        if name.lower().replace("-", "_") in QUERY_SECRET_NAMES:
            return name
    return None


def bearer_matches(authorization: bytes | None, key: bytes) -> bool:
    """Whether an ``Authorization`` header value is ``Bearer <key>``, in constant time.

    The scheme is case-insensitive (RFC 9110); the key is compared whole, so a prefix
    or a longer value never matches.
    """
    if authorization is None:
        return False
    scheme, _, given = authorization.strip().partition(b" ")
    if scheme.lower() != b"bearer":
        return False
    return hmac.compare_digest(given.strip(), key)


def basic_matches(authorization: bytes | None, key: bytes) -> bool:
    """Whether an ``Authorization`` header value is HTTP Basic with the key as password.

    For browsers (the web view at ``/ui``), which can send Basic credentials but not a
    bearer key: the user name is ignored, the password is compared whole in constant time.
    """
    if authorization is None:
        return False
    scheme, _, given = authorization.strip().partition(b" ")
    if scheme.lower() != b"basic":
        return False
    try:
        decoded = base64.b64decode(given.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    _, colon, password = decoded.partition(b":")
    return bool(colon) and hmac.compare_digest(password, key)
