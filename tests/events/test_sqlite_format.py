"""The SQLite log's file format 2: packed payloads, and upgrading format-1 files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from events._base import UnknownEvent
from events._codec import EventRegistry
from events._errors import ConcurrencyConflict
from events._sqlite import SqliteEventLog
from events._sqlite_codec import TypeInfo, first_dictionary, pack, tag_prefix, unpack
from events._sqlite_schema import APPLICATION_ID, SCHEMA_VERSION
from events._system import ActorFailed, ActorStopped

# Format 1, as the previous release created it.
V1_DDL = """
CREATE TABLE events (
    position INTEGER PRIMARY KEY, stream TEXT NOT NULL, stream_version INTEGER NOT NULL,
    timestamp REAL NOT NULL, type TEXT NOT NULL, schema_version INTEGER NOT NULL,
    idempotency_key TEXT, payload BLOB NOT NULL, UNIQUE (stream, stream_version)
);
CREATE UNIQUE INDEX events_idempotency_key ON events (idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX events_type_position ON events (type, position);
CREATE TABLE snapshots (
    name TEXT NOT NULL, position INTEGER NOT NULL, created REAL NOT NULL, state BLOB NOT NULL,
    PRIMARY KEY (name, position)
);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def registry() -> EventRegistry:
    return EventRegistry([ActorFailed, ActorStopped])


def stopped(n: int) -> ActorStopped:
    return ActorStopped(actor=f"a{n}", reason="stopped")


def write_v1(path: Path) -> None:
    """A format-1 log: s1 (a keyed append of two events), s2, and a snapshot."""
    encode = registry().encode
    rows = [
        (1, "s1", 1, 10.0, *encode(stopped(1)), "k"),
        (2, "s1", 2, 10.0, *encode(stopped(2)), "k\x1f1"),
        (3, "s2", 1, 11.0, *encode(stopped(3)), None),
    ]
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(V1_DDL)
    conn.executemany(
        "INSERT INTO events (position, stream, stream_version, timestamp, type, schema_version, "
        "payload, idempotency_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.execute("INSERT INTO snapshots VALUES ('p', 3, 12.0, x'01')")
    conn.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
    conn.execute("PRAGMA user_version=1")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()


def user_version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


def info(name: str, first: bytes) -> TypeInfo:
    prefix = tag_prefix(name)
    return TypeInfo(1, name, first_dictionary(first, prefix), prefix)


def test_packed_payloads_round_trip_and_shrink() -> None:
    encode = registry().encode
    name, _, first = encode(stopped(1))
    kind = info(name, first)
    for n in range(5):
        payload = encode(ActorStopped(actor=f"actor-{n}", reason="a reason " * n))[2]
        stored = pack(kind, payload)
        assert unpack(kind, stored) == payload
        assert len(stored) < len(payload)


def test_a_payload_without_the_tag_is_stored_as_given() -> None:
    kind = info("T", b'{"type":"T","a":1}')
    for odd in (b'{"a":1}', b"[1,2]", b'{"type":"T"}', b'{"type":"Tx","a":1}'):
        assert unpack(kind, pack(kind, odd)) == odd


def test_a_damaged_payload_is_a_value_error() -> None:
    kind = info("T", b'{"type":"T","a":1}')
    with pytest.raises(ValueError):
        unpack(kind, b"z\xff\xff\xff")
    with pytest.raises(ValueError):
        unpack(kind, b"?")


async def test_events_read_back_exactly_and_unknown_types_keep_their_json(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.sqlite3"
    big = ActorFailed(actor="x", error_type="E", message="m" * 5000, failures_in_window=2)
    async with await SqliteEventLog.open(path, registry=registry()) as log:
        await log.append("s", [stopped(1), big])
    payload = registry().encode(big)[2]
    async with await SqliteEventLog.open(path, registry=EventRegistry([ActorStopped])) as log:
        stored = [e async for e in log.read()]
    assert stored[0].event == stopped(1)
    unknown = stored[1].event
    assert isinstance(unknown, UnknownEvent)
    assert unknown.payload == payload and stored[1].type == "ActorFailed"


async def test_a_v1_file_is_read_as_it_is_when_opened_read_only(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    write_v1(path)
    async with await SqliteEventLog.open_readonly(path, registry=registry()) as viewer:
        stored = [e async for e in viewer.read()]
        assert [(e.position, e.stream, e.stream_version) for e in stored] == [
            (1, "s1", 1),
            (2, "s1", 2),
            (3, "s2", 1),
        ]
        assert [e.idempotency_key for e in stored] == ["k", "k", None]
        assert [e.position async for e in viewer.read(stream="s1")] == [1, 2]
        assert [e.position async for e in viewer.read(types=["ActorStopped"])] == [1, 2, 3]
        assert await viewer.last_position() == 3
        assert await viewer.stream_version("s1") == 2
        assert (await viewer.bounds()).first_position == 1
    assert user_version(path) == 1


async def test_a_v1_file_is_upgraded_when_opened_for_writing(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    write_v1(path)
    async with await SqliteEventLog.open(path, registry=registry()) as log:
        assert user_version(path) == SCHEMA_VERSION
        stored = [e async for e in log.read()]
        assert [e.event for e in stored] == [stopped(1), stopped(2), stopped(3)]
        assert [(e.stream, e.stream_version, e.timestamp) for e in stored] == [
            ("s1", 1, 10.0),
            ("s1", 2, 10.0),
            ("s2", 1, 11.0),
        ]
        assert await log.append("s1", [stopped(9)], idempotency_key="k") == (1, 2)
        with pytest.raises(ConcurrencyConflict):
            await log.append("s1", [stopped(4)], expected_version=1)
        assert await log.append("s1", [stopped(4)], expected_version=2) == (4,)
        assert await log.load_snapshot("p") == (3, b"\x01")
    async with await SqliteEventLog.open(path, registry=registry()) as log:  # once only
        assert await log.last_position() == 4
    with sqlite3.connect(path) as conn:  # tools see format 1's shape through the view
        assert conn.execute("SELECT stream, type FROM events WHERE position = 4").fetchone() == (
            "s1",
            "ActorStopped",
        )
