"""A started Runtime reaches its shared state only through ActorRefs, with messages.

Each endpoint, the health monitor, the quota ledger, the performance tracker, the
catalog and the router is an ``Actor`` subclass. Walking every object reachable from
the ``Runtime`` — its parts, the driver, closures, bound methods, timers, the
event log — without entering an actor's cell (the machinery behind its ref) must never
arrive at an actor instance or at the mutable containers it keeps its state in.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import types
from collections import deque
from collections.abc import Iterator
from pathlib import Path

from actors import Actor, ActorRef
from actors._cell import ActorCell
from actors.catalog import CatalogActor
from actors.endpoint import EndpointActor
from actors.health import GetHealth, HealthActor
from actors.performance import PerformanceActor
from actors.quota import QuotaActor
from actors.router import RouterActor
from runtime import HealthConfig, Runtime
from runtime.testing import ChaosServer
from tests.runtime._support import MESSAGES, config

_SKIPPED = (
    type,
    types.ModuleType,
    types.FrameType,
    types.CoroutineType,
    types.GeneratorType,
    types.AsyncGeneratorType,
    asyncio.AbstractEventLoop,
    asyncio.Future,
    asyncio.Handle,
    str,
    bytes,
    int,
    float,
)


def _referents(obj: object) -> Iterator[object]:
    """What ``obj`` holds, as our code could reach it (closures and bound methods
    included; the asyncio machinery and module globals are not state)."""
    if isinstance(obj, types.FunctionType):
        yield from (cell.cell_contents for cell in obj.__closure__ or () if _filled(cell))
        yield from obj.__defaults__ or ()
        return
    if isinstance(obj, types.MethodType):
        yield obj.__self__
        return
    if isinstance(obj, functools.partial):
        yield obj.func
        yield from obj.args
        yield from obj.keywords.values()
        return
    yield from gc.get_referents(obj)


def _filled(cell: types.CellType) -> bool:
    try:
        cell.cell_contents  # noqa: B018 - probing an empty closure cell
    except ValueError:
        return False
    return True


def reachable(root: object, *, enter_cells: bool) -> set[int]:
    seen: set[int] = set()
    queue: deque[object] = deque([root])
    while queue:
        obj = queue.popleft()
        if id(obj) in seen or isinstance(obj, _SKIPPED):
            continue
        if isinstance(obj, ActorCell) and not enter_cells:
            continue
        seen.add(id(obj))
        queue.extend(_referents(obj))
    return seen


def private_state(actor: Actor[object]) -> dict[int, str]:
    """The instance and every mutable container it holds, by id."""
    owned = {id(actor): type(actor).__name__}
    for name, value in vars(actor).items():
        if isinstance(value, dict | list | set | deque):
            owned[id(value)] = f"{type(actor).__name__}.{name}"
    return owned


async def test_the_state_of_a_started_runtime_is_reached_only_through_refs(
    tmp_path: Path,
) -> None:
    async with ChaosServer(["llama3"]) as a, ChaosServer(["llama3"]) as b:
        cfg = config(
            tmp_path,
            {"a": a, "b": b},
            {"llama3": ("a", "b")},
            health=HealthConfig(check_interval_seconds=30.0),
        )
        async with Runtime.from_config(cfg) as rt:
            await rt.chat(MESSAGES, model="llama3")  # every actor has done some work
            refs = rt._running().refs
            expected: dict[str, type[Actor[object]]] = {
                "router": RouterActor,
                "health": HealthActor,
                "catalog": CatalogActor,
                "performance": PerformanceActor,
                "quota": QuotaActor,
            }
            actors: list[Actor[object]] = []
            for field, kind in expected.items():
                ref = getattr(refs, field)
                assert isinstance(ref, ActorRef), field
                instance = ref._cell._instance
                assert isinstance(instance, kind) and isinstance(instance, Actor), field
                actors.append(instance)
            for name, ref in refs.endpoints.items():
                instance = ref._cell._instance
                assert isinstance(instance, EndpointActor), name
                actors.append(instance)
            assert len(actors) == 7
            private: dict[int, str] = {}
            for actor in actors:
                private.update(private_state(actor))

            leaks = {private[i] for i in reachable(rt, enter_cells=False) & private.keys()}
            through_cells = reachable(rt, enter_cells=True) & private.keys()
            health = (await refs.health.ask(GetHealth())).states  # answered by message
    assert not leaks, f"reachable without going through an ActorRef: {sorted(leaks)}"
    assert len(through_cells) >= len(actors)  # the walk itself finds them via the refs
    assert set(health) == {"llama3@a", "llama3@b"}
