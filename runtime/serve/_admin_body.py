"""The bodies of the admin routes, checked (pure); shared with ``python -m runtime.admin``.

``{"target": T, "reason": R}``: ``T`` is a model name or alias (``llama3``), one
deployment (``llama3@a``) or an endpoint (``a``), as ``Runtime.reset_health`` takes it;
``reason`` (reset only, optional) is recorded in the ``HealthReset`` events. Anything
else in the body is refused, so a misspelt field never goes unnoticed.
"""

from __future__ import annotations

from typing import Any

import msgspec

from runtime.serve._errors import HttpError
from runtime.serve._limits import reject_backend_fields

__all__ = [
    "DEFAULT_REASON",
    "MAX_REASON",
    "MAX_TARGET",
    "AdminCall",
    "parse_admin",
    "target_problem",
]

DEFAULT_REASON = "operator reset"
"""The ``HealthReset.reason`` when the caller gives none."""
MAX_TARGET = 256
"""Longest target accepted (model names and endpoint names are short)."""
MAX_REASON = 500
"""Longest reason accepted (it is stored in every ``HealthReset`` event)."""


class AdminCall(msgspec.Struct, frozen=True, kw_only=True):
    """A checked admin request."""

    target: str
    reason: str = DEFAULT_REASON


def target_problem(target: object) -> str | None:
    """What is wrong with ``target`` as a target's *form*, or None if it may name one.

    A target is a non-empty string of at most ``MAX_TARGET`` printable characters with
    no whitespace and at most one ``@``, with a name on each side of it.
    """
    if not isinstance(target, str) or not target:
        return "'target' must be a non-empty string: a model, 'model@endpoint' or an endpoint"
    if len(target) > MAX_TARGET:
        return f"'target' is longer than {MAX_TARGET} characters"
    if any(c.isspace() or not c.isprintable() for c in target):
        return "'target' must not contain whitespace or control characters"
    model, at, endpoint = target.partition("@")
    if at and (not model or not endpoint or "@" in endpoint):
        return f"'target' {target!r} is not 'model@endpoint' (one '@', a name on each side)"
    return None


def parse_admin(body: dict[str, Any], *, reason: bool) -> AdminCall:
    """The admin call in ``body``; ``reason``: whether the route takes one.

    Raises:
        HttpError: 400 naming the field: a bad or missing target, a bad reason, a
            backend setting (``backend_field_refused``) or another field the route does
            not know.
    """
    reject_backend_fields(body)  # as on every route: backends come from the config only
    allowed = {"target", "reason"} if reason else {"target"}
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise HttpError(
            400,
            f"unknown field {unknown[0]!r}; this route takes {', '.join(sorted(allowed))}",
            code="invalid_field",
            param=unknown[0],
        )
    target = body.get("target")
    problem = target_problem(target)
    if problem is not None:
        raise HttpError(400, problem, code="invalid_target", param="target")
    assert isinstance(target, str)
    given = body.get("reason", DEFAULT_REASON)
    if not isinstance(given, str) or not given.strip() or len(given) > MAX_REASON:
        raise HttpError(
            400,
            f"'reason' must be a non-empty string of at most {MAX_REASON} characters",
            code="invalid_field",
            param="reason",
        )
    return AdminCall(target=target, reason=given.strip())
