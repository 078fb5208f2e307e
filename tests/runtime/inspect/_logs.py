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
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from actors import ManualClock
from events import Event, RequestFailed, RequestStarted, RequestSucceeded, SqliteEventLog
from events._sqlite_codec import TypeInfo, first_dictionary, pack, tag_prefix, unpack
from runtime import HealthConfig, LLMRuntimeError, Runtime
from runtime.testing import ChaosServer, Fault
from tests.runtime._support import MESSAGES, config

__all__ = [
    "DEMO_WALL",
    "append_events",
    "copy_log",
    "delete_rows",
    "insert_row",
    "keep_logging",
    "row_payload",
    "row_type",
    "set_columns",
    "set_payload",
    "set_type",
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


# Raw rows of a format-2 file. ``position`` names the ``log_events`` row; a helper that
# finds no such row raises ``AssertionError`` (the damage would silently do nothing).

_COLUMNS = frozenset({"stream", "version", "timestamp", "type", "schema", "key", "payload"})
"""``log_events`` columns (format 1 names: ``stream_version``, ``schema_version``,
``idempotency_key``; ``stream`` and ``type`` hold ``log_streams``/``log_types`` ids)."""


def _type_info(conn: sqlite3.Connection, type_id: int) -> TypeInfo:
    row = conn.execute("SELECT name, dictionary FROM log_types WHERE id = ?", (type_id,)).fetchone()
    assert row is not None, f"no log_types row {type_id}"
    name, dictionary = row
    prefix = tag_prefix(name) if isinstance(name, str) else b""
    return TypeInfo(type_id, str(name), bytes(dictionary), prefix)


def _row_type_id(conn: sqlite3.Connection, position: int) -> int:
    row = conn.execute("SELECT type FROM log_events WHERE position = ?", (position,)).fetchone()
    assert row is not None, f"no event at position {position}"
    return int(row[0])


def row_type(conn: sqlite3.Connection, position: int) -> object:
    """The type name of the event at ``position`` (as stored: text, unless damaged)."""
    type_id = _row_type_id(conn, position)
    return conn.execute("SELECT name FROM log_types WHERE id = ?", (type_id,)).fetchone()[0]


def row_payload(conn: sqlite3.Connection, position: int) -> bytes:
    """The registry's JSON of the event at ``position`` (its stored payload unpacked)."""
    info = _type_info(conn, _row_type_id(conn, position))
    (stored,) = conn.execute(
        "SELECT payload FROM log_events WHERE position = ?", (position,)
    ).fetchone()
    return unpack(info, bytes(stored))


def set_payload(conn: sqlite3.Connection, position: int, payload: bytes) -> None:
    """Store ``payload`` (JSON, or any bytes) as the event's, packed as a writer would."""
    info = _type_info(conn, _row_type_id(conn, position))
    set_columns(conn, position, payload=pack(info, payload))


def _type_id(conn: sqlite3.Connection, name: object, payload: bytes) -> int:
    """The ``log_types`` id of ``name``, adding a row for it if the file has none."""
    found = conn.execute("SELECT id FROM log_types WHERE name = ?", (name,)).fetchone()
    if found is not None:
        return int(found[0])
    prefix = tag_prefix(name) if isinstance(name, str) else b""
    dictionary = first_dictionary(payload, prefix) or b"{}"
    (type_id,) = conn.execute(
        "INSERT INTO log_types (name, dictionary) VALUES (?, ?) RETURNING id", (name, dictionary)
    ).fetchone()
    return int(type_id)


def set_type(conn: sqlite3.Connection, position: int, name: object) -> None:
    """Make the event at ``position`` (only it) claim type ``name`` -- any SQLite value:
    ``42`` is stored as the text ``'42'``, bytes stay a blob -- and keep its JSON (which
    still starts with the old type's tag, as a changed type column did in format 1)."""
    payload = row_payload(conn, position)
    type_id = _type_id(conn, name, payload)
    stored = pack(_type_info(conn, type_id), payload)
    set_columns(conn, position, type=type_id, payload=stored)


def set_columns(conn: sqlite3.Connection, position: int, **values: object) -> None:
    """Set raw ``log_events`` columns of one row (``payload``: stored bytes, not JSON)."""
    assert values and set(values) <= _COLUMNS, f"not log_events columns: {sorted(values)}"
    assignments = ", ".join(f"{column} = ?" for column in values)
    changed = conn.execute(
        f"UPDATE log_events SET {assignments} WHERE position = ?", (*values.values(), position)
    ).rowcount
    assert changed == 1, f"no event at position {position}"


def insert_row(
    conn: sqlite3.Connection,
    position: int,
    *,
    stream: str,
    version: int,
    timestamp: float,
    type: object,
    payload: bytes,
    schema: int = 1,
    key: str | None = None,
) -> None:
    """Add a row as a writer would: its stream and type interned (added if new), the
    stream's version raised to ``version``, ``payload`` packed."""
    conn.execute(
        "INSERT INTO log_streams (name, version) VALUES (?, ?) ON CONFLICT (name) "
        "DO UPDATE SET version = max(version, excluded.version)",
        (stream, version),
    )
    (stream_id,) = conn.execute("SELECT id FROM log_streams WHERE name = ?", (stream,)).fetchone()
    type_id = _type_id(conn, type, payload)
    stored = pack(_type_info(conn, type_id), payload)
    conn.execute(
        "INSERT INTO log_events VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (position, stream_id, version, timestamp, type_id, schema, key, stored),
    )


def delete_rows(conn: sqlite3.Connection, *positions: int) -> None:
    """Delete the events at ``positions`` (stream versions stay as they were)."""
    marks = ",".join("?" * len(positions))
    deleted = conn.execute(f"DELETE FROM log_events WHERE position IN ({marks})", positions)
    assert deleted.rowcount == len(positions), f"not every position of {positions} exists"
