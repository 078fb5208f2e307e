"""Helpers for the ``state``/``explain``/``timeline`` tests: stored events and runners.

``stored`` turns bare events into the ``StoredEvent``s a log would hand out (positions,
streams and stream versions as the runtime writes them), for the pure reconstruction
tests. The ``*_json``/``*_text`` runners call the command shells on a real log file,
opened read-only as the CLI does.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from events import (
    HEALTH_STREAM_PREFIX,
    QUOTA_LEDGER_STREAM,
    REQUEST_STREAM_PREFIX,
    Event,
    HealthEvent,
    QuotaEvent,
    RoutingEvent,
    SqliteEventLog,
    StoredEvent,
)
from runtime.inspect._explain import run_explain
from runtime.inspect._render import UNLIMITED_WIDTH, Style
from runtime.inspect._state import run_state
from runtime.inspect._timeline import run_timeline

__all__ = [
    "PLAIN",
    "WALL",
    "explain_json",
    "explain_text",
    "positions_of",
    "state_json",
    "state_text",
    "stored",
    "stream_of",
    "timeline_json",
    "timeline_text",
]

WALL = 1_700_000_000.0
"""The virtual wall clock the runtime tests start at (2023-11-14T22:13:20Z)."""
PLAIN = Style(color=False, width=UNLIMITED_WIDTH)


def stream_of(event: Event) -> str:
    """The stream the runtime appends ``event`` to."""
    if isinstance(event, RoutingEvent):
        return REQUEST_STREAM_PREFIX + event.request_id
    if isinstance(event, HealthEvent):
        return HEALTH_STREAM_PREFIX + event.deployment
    if isinstance(event, QuotaEvent):
        return QUOTA_LEDGER_STREAM
    return "other"


def stored(events: Iterable[Event], *, start: int = 1) -> list[StoredEvent]:
    """``events`` as a log would store them, from position ``start``."""
    versions: dict[str, int] = {}
    out = []
    for position, event in enumerate(events, start):
        stream = stream_of(event)
        versions[stream] = versions.get(stream, 0) + 1
        out.append(
            StoredEvent(
                position=position,
                stream=stream,
                stream_version=versions[stream],
                timestamp=float(getattr(event, "at", WALL)),
                type=type(event).__name__,
                schema_version=1,
                idempotency_key=None,
                event=event,
            )
        )
    return out


async def positions_of(path: Path, *types: type[Event]) -> list[StoredEvent]:
    """Every stored event of ``types`` in the log at ``path``."""
    names = [t.__name__ for t in types]
    async with await SqliteEventLog.open_readonly(path) as log:
        return [e async for e in log.read(types=names)]


async def state_text(path: Path, at: str | None = None, *, window: int = 100) -> str:
    """``state`` as text."""
    out = io.StringIO()
    async with await SqliteEventLog.open_readonly(path) as log:
        assert await run_state(log, at=at, json=False, style=PLAIN, out=out, window=window) == 0
    return out.getvalue()


async def state_json(path: Path, at: str | None = None, *, window: int = 100) -> Any:
    """``state --json``, decoded."""
    out = io.StringIO()
    async with await SqliteEventLog.open_readonly(path) as log:
        assert await run_state(log, at=at, json=True, style=PLAIN, out=out, window=window) == 0
    return json.loads(out.getvalue())


async def explain_text(path: Path, request_id: str) -> str:
    """``explain`` as text."""
    out = io.StringIO()
    async with await SqliteEventLog.open_readonly(path) as log:
        assert await run_explain(log, request_id, json=False, style=PLAIN, out=out) == 0
    return out.getvalue()


async def explain_json(path: Path, request_id: str) -> Any:
    """``explain --json``, decoded."""
    out = io.StringIO()
    async with await SqliteEventLog.open_readonly(path) as log:
        assert await run_explain(log, request_id, json=True, style=PLAIN, out=out) == 0
    return json.loads(out.getvalue())


async def timeline_text(path: Path, model: str | None = None) -> str:
    """``timeline`` as text."""
    out = io.StringIO()
    async with await SqliteEventLog.open_readonly(path) as log:
        assert await run_timeline(log, model, json=False, style=PLAIN, out=out) == 0
    return out.getvalue()


async def timeline_json(path: Path, model: str | None = None) -> Any:
    """``timeline --json``, decoded."""
    out = io.StringIO()
    async with await SqliteEventLog.open_readonly(path) as log:
        assert await run_timeline(log, model, json=True, style=PLAIN, out=out) == 0
    return json.loads(out.getvalue())
