"""Planning's view of a chain: what health, the catalog and the windows say (a shell).

Before each plan (``PlanRoute``, ``PlanFallback``) the driver needs the chain's
deployments screened by health, the catalog's survey of them (unlisted ones, discovered
context windows: one ask), the performance windows when the chain is ranked by them, and
the routes of discovered models; the deployments the request cannot fit in are blocked
too (``screen_fit``). Every ask is inline when its actor is idle.
"""

from __future__ import annotations

from collections.abc import Mapping

from actors.catalog import FindDiscovered, Survey, Surveyed
from actors.health import Screen, Screened, Watch
from actors.performance import GetPerformanceView, PerformanceState
from actors.router._fit import screen_fit
from actors.router._run import Refs, RunningRequest, ask
from actors.router._select import ModelRoute
from actors.router._state import MachineSettings
from actors.router._types import ModelSettings

__all__ = ["Views"]


class Views:
    """Asks for planning's view of a chain; keeps each chain's configured deployments."""

    def __init__(
        self,
        refs: Refs,
        models: Mapping[str, ModelSettings],
        settings: MachineSettings,
        ranked: frozenset[str],
        *,
        discovers: bool,
    ) -> None:
        self._refs = refs
        self._models = models
        self._settings = settings
        self._ranked = ranked
        self._discovers = discovers
        self._dids: dict[tuple[str, ...], tuple[str, ...]] = {}

    async def view(
        self, run: RunningRequest, chain: tuple[str, ...], rank_models: bool = False
    ) -> tuple[Screened, Surveyed, PerformanceState | None, dict[str, ModelRoute] | None]:
        """What health, the catalog and the windows say about ``chain`` right now (its
        deployments the request does not fit in blocked too: ``screen_fit``), and the
        routes of its models that are discovered rather than configured."""
        refs = self._refs
        configured = self._dids.get(chain)
        if configured is None:
            configured = self._dids[chain] = tuple(
                f"{m}@{e}"
                for m in dict.fromkeys(chain)
                if m in self._models
                for e in self._models[m].route.deployments
            )
        dids = configured
        routes = None
        others = self._discovers and tuple(m for m in dict.fromkeys(chain) if m not in self._models)
        if others:
            found = (await ask(refs.catalog, FindDiscovered(others, stage=1))).found
            routes = {m: ModelRoute(deployments=found[m][1]) for m in others if m in found}
            more = tuple(f"{m}@{e}" for m, route in routes.items() for e in route.deployments)
            await ask(refs.health, Watch(more))  # health tracks them from their first use
            dids += more
        screened = await ask(refs.health, Screen(dids))
        surveyed = await ask(refs.catalog, Survey(dids))  # unlisted ones, known windows
        ranked = None
        if rank_models or not self._ranked.isdisjoint(chain):
            ranked = await ask(refs.performance, GetPerformanceView())
        screened = screen_fit(
            self._models, self._settings, run, chain, screened, routes, surveyed.lengths,
            configured,
        )  # fmt: skip
        return screened, surveyed, ranked, routes
