"""Realistic event logs for the inspect tests, written by a real Runtime.

``write_demo_log`` runs a ``Runtime`` over two chaos backends ``a`` and ``b`` on a
virtual clock: round-robin requests, a request that falls back from ``llama3`` to
``qwen``, backend ``b`` quarantined and then recovered, and a request that fails. The
log therefore holds the routing, health and catalog events a real deployment writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from actors import ManualClock
from events import Event, RequestFailed, RequestStarted, RequestSucceeded, SqliteEventLog
from runtime import HealthConfig, LLMRuntimeError, Runtime
from runtime.testing import ChaosServer, Fault
from tests.runtime._support import MESSAGES, config

__all__ = [
    "DEMO_WALL",
    "append_events",
    "copy_log",
    "keep_logging",
    "shared_demo_log",
    "write_demo_log",
]

DEMO_WALL = 1_700_000_000.0
"""The virtual wall clock at the start of the demo run (2023-11-14T22:13:20Z)."""

_HEALTH = HealthConfig(
    check_interval_seconds=0, failure_threshold=3, quarantine_seconds=30.0, min_calls=10
)


async def write_demo_log(path: Path) -> dict[str, str]:
    """Write a realistic log to ``path`` (a new file) and return ids found in it.

    Returns:
        ``ok_request`` (answered by the role's primary model), ``fallback_request``
        (fell back from llama3 to qwen), ``failed_request`` (every attempt failed),
        ``quarantined`` (the deployment that was quarantined then recovered) and
        ``model_request`` (a request that asked for a model directly).
    """
    clock = ManualClock(monotonic=100.0, wall=DEMO_WALL)
    try:
        async with (
            ChaosServer(["llama3", "qwen"], seed=1) as a,
            ChaosServer(["llama3", "qwen"], seed=2) as b,
        ):
            await _run(path, a, b, clock)
    finally:
        await clock.aclose()
    return await _ids(path)


async def _run(path: Path, a: ChaosServer, b: ChaosServer, clock: ManualClock) -> None:
    cfg = config(
        path.parent,
        {"a": a, "b": b},
        {"llama3": ("a", "b"), "qwen": ("a",)},
        roles={"generator": ("llama3", "qwen")},
        health=_HEALTH,
        log_name=path.name,
    )
    async with Runtime.from_config(cfg, clock=clock) as rt:
        for _ in range(4):  # round-robin over a and b
            await rt.chat(MESSAGES, role="generator")
        a.set_fault(Fault(kind="http_error", status=500), model="llama3")
        b.set_fault(Fault(kind="http_error", status=500), model="llama3")
        await rt.chat(MESSAGES, role="generator")  # llama3 fails everywhere: falls back
        a.clear_faults()
        for _ in range(4):  # b keeps failing: quarantined after 3 failures
            await rt.chat(MESSAGES, model="llama3")
            await clock.advance(1.0)
        b.clear_faults()
        await clock.advance(31.0)  # past the quarantine: b is probed and recovers
        for _ in range(4):
            await rt.chat(MESSAGES, model="llama3")
        a.set_fault(Fault(kind="http_error", status=500), model="qwen")
        with contextlib.suppress(LLMRuntimeError):
            await rt.chat(MESSAGES, model="qwen")  # qwen is only on a: the request fails
        a.clear_faults()
        await rt.flush_events()


async def _ids(path: Path) -> dict[str, str]:
    ids: dict[str, str] = {}
    started: dict[str, RequestStarted] = {}
    async with await SqliteEventLog.open_readonly(path) as log:
        async for stored in log.read():
            event = stored.event
            if isinstance(event, RequestStarted):
                started[event.request_id] = event
                if event.role is None:
                    ids.setdefault("model_request", event.request_id)
            elif isinstance(event, RequestSucceeded):
                role = started[event.request_id].role
                if role is not None and event.model == "llama3":
                    ids.setdefault("ok_request", event.request_id)
                if event.model == "qwen":
                    ids.setdefault("fallback_request", event.request_id)
            elif isinstance(event, RequestFailed):
                ids.setdefault("failed_request", event.request_id)
            elif type(event).__name__ == "DeploymentQuarantined":
                ids.setdefault("quarantined", stored.stream.removeprefix("health/"))
    missing = {"ok_request", "fallback_request", "failed_request", "quarantined"} - set(ids)
    if missing:
        raise AssertionError(f"the demo run did not produce {sorted(missing)}")
    return ids


async def append_events(path: Path, stream: str, events: list[Event], *, now: float) -> None:
    """Append ``events`` to ``stream`` of the log at ``path``, stamped ``now``."""
    async with await SqliteEventLog.open(path, now=lambda: now) as log:
        await log.append(stream, events)


_SHARED: dict[str, tuple[Path, dict[str, str]]] = {}


def shared_demo_log(factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The demo log, written once per test session; treat it as read-only (see ``copy_log``).

    Call it from a synchronous fixture: it runs the demo on its own event loop.
    """
    if "demo" not in _SHARED:
        path = factory.mktemp("demo-log") / "events.sqlite3"
        ids = asyncio.run(write_demo_log(path))
        _SHARED["demo"] = (path, ids)
    return _SHARED["demo"]


def copy_log(source: Path, target_dir: Path) -> Path:
    """Copy a closed log (main file only: a closed log has an empty WAL) for changing it."""
    target = target_dir / source.name
    shutil.copyfile(source, target)
    return target


@pytest.fixture
def keep_logging() -> Iterator[None]:
    """Restore the ``runtime`` logger after a test that ran ``main`` in-process.

    ``main`` configures logging (warnings only, to its stderr) as an entry point does;
    other tests must not inherit that.
    """
    runtime_log = logging.getLogger("runtime")
    handlers, level = list(runtime_log.handlers), runtime_log.level
    yield
    runtime_log.handlers[:] = handlers
    runtime_log.setLevel(level)
