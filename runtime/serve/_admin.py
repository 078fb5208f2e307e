"""The operator routes: reset a deployment's health, or check it now.

::

    POST /admin/health/reset  {"target": T, "reason": R?}
        -> 200 {"target", "reason", "reset": [{"deployment", "before", "after"}...]}
    POST /admin/health/probe  {"target": T}
        -> 200 {"target", "ok", "results": [{"deployment", "outcome", "before", "after",
                                             "failure", "message"}...]}

``T`` is a model (name or alias), ``model@endpoint`` or an endpoint name (see
``Runtime.reset_health``). A malformed body or target gets 400 naming the field; a
target that names nothing configured gets 404 (``unknown_target``) listing what exists.
``reset`` calls ``rt.reset_health`` (the deployments go ``unknown`` and are selectable
at once; ``HealthReset`` events, committed before the reply). ``probe`` calls
``rt.probe``: the background check runs now and its outcome is counted; a passing
check clears a quarantine (``runtime._probe``). ``ok`` is false when a check failed (the
reply is still 200: the probe itself ran). Both routes sit behind the bearer key like
every other route, and every call is logged (``serve.admin.*``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from events import get_logger
from runtime._errors import InvalidRequest
from runtime._runtime import Runtime
from runtime.serve._admin_body import parse_admin
from runtime.serve._errors import HttpError
from runtime.serve._responses import json_response

__all__ = ["ADMIN_ROUTES", "admin_routes"]

log = get_logger(__name__)

ADMIN_ROUTES = ("/admin/health/reset", "/admin/health/probe")
"""The operator routes' paths."""

ReadBody = Callable[[Request], Awaitable[dict[str, Any]]]


def admin_routes(rt: Runtime, read_body: ReadBody) -> list[Route]:
    """The operator routes over ``rt``; ``read_body`` reads a JSON object (size-capped)."""

    async def reset(request: Request) -> Response:
        call = parse_admin(await read_body(request), reason=True)
        before = rt.health()
        try:
            chosen = await rt.reset_health(call.target, reason=call.reason)
        except InvalidRequest as exc:
            raise _unknown(exc) from None
        log.info("serve.admin.health.reset", target=call.target, reason=call.reason, reset=chosen)
        after = rt.health()
        reset = [
            {
                "deployment": did,
                "before": before.deployment(did).status,
                "after": after.deployment(did).status,
            }
            for did in chosen
        ]
        return json_response({"target": call.target, "reason": call.reason, "reset": reset})

    async def probe(request: Request) -> Response:
        call = parse_admin(await read_body(request), reason=False)
        try:
            results = await rt.probe(call.target)
        except InvalidRequest as exc:
            raise _unknown(exc) from None
        ok = all(r.outcome != "failed" for r in results)
        log.info(
            "serve.admin.health.probe",
            target=call.target,
            ok=ok,
            outcomes={r.deployment: f"{r.outcome} ({r.before} -> {r.after})" for r in results},
        )
        return json_response({"target": call.target, "ok": ok, "results": list(results)})

    return [
        Route(ADMIN_ROUTES[0], reset, methods=["POST"]),
        Route(ADMIN_ROUTES[1], probe, methods=["POST"]),
    ]


def _unknown(exc: InvalidRequest) -> HttpError:
    return HttpError(404, str(exc), code="unknown_target", param="target")
