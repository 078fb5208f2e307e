"""Planning's context-window check: the deployments a request cannot fit in (a shell).

Before each plan (``PlanRoute``, ``PlanFallback``) the driver asks the catalog for the
discovered windows of the chain's deployments (in the same ``Survey`` as the unlisted
ones); this works out each one's window for this request and blocks those it does not
fit in (skip reason ``context_window``), next to what health blocks; the rules are
``_windows``'s. The windows found are kept on the
running request for the machine (a backend's overflow, the final error).
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from actors.health import Screened
from actors.router._run import RunningRequest
from actors.router._select import ModelRoute
from actors.router._state import MachineSettings
from actors.router._types import ModelSettings
from actors.router._windows import blocks, windows_of

__all__ = ["screen_fit"]


def screen_fit(
    models: Mapping[str, ModelSettings],
    settings: MachineSettings,
    run: RunningRequest,
    chain: tuple[str, ...],
    screened: Screened,
    routes: Mapping[str, ModelRoute] | None,
    lengths: Mapping[str, int],
    configured: tuple[str, ...],
) -> Screened:
    """``screened`` with the deployments of ``chain`` the request cannot fit in blocked
    too (their reason wins: they cannot serve it whatever their health).

    ``lengths``: the catalog's discovered windows; ``configured``: the deployment ids
    of the chain's configured models, in chain order (the driver keeps them)."""
    dids = configured
    if routes:  # discovered models too: in chain order
        dids = tuple(
            f"{m}@{e}"
            for m in dict.fromkeys(chain)
            if (route := _route(models, routes, m)) is not None
            for e in route.deployments
        )
    windows = windows_of(run.request, dids, models, lengths)
    if windows:
        run.windows = {**run.windows, **windows}
    found = blocks(run.request, windows, settings.max_tokens)
    if not found:
        return screened
    return msgspec.structs.replace(screened, blocked={**screened.blocked, **found})


def _route(
    models: Mapping[str, ModelSettings], routes: Mapping[str, ModelRoute] | None, model: str
) -> ModelRoute | None:
    """A configured model's route, else a discovered one's (as the catalog lists it)."""
    settings = models.get(model)
    if settings is not None:
        return settings.route
    return routes.get(model) if routes else None
