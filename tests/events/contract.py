"""The ``EventLog`` + ``SnapshotStore`` contract: one suite, run against every implementation.

``test_contract.py`` runs ``EventLogContract`` with a ``backend`` fixture parametrized over
the implementations; a new implementation (say PostgreSQL) adds a ``Backend`` here and
inherits every test. Property tests reuse the backends too.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, ClassVar

import msgspec
import pytest

from events._base import Event, StoredEvent, UnknownEvent
from events._codec import EventRegistry
from events._errors import ConcurrencyConflict, EventLogClosed, EventLogError
from events._memory import MemoryEventLog
from events._replay import Projection
from events._system import ActorFailed, ActorRestarted, ActorStopped
from tests._wait import eventually

Log = Any
"""An object satisfying both ``EventLog`` and ``SnapshotStore``."""

SQLITE_AVAILABLE = importlib.util.find_spec("events._sqlite") is not None
BACKEND_NAMES = ("memory", "sqlite")


class Ping(Event, frozen=True, kw_only=True, tag="contract.Ping"):
    """A test event."""

    n: int
    note: str = ""


class Pong(Event, frozen=True, kw_only=True, tag="contract.Pong"):
    """A test event an "older release" registry does not know."""

    n: int


class PingV2(Event, frozen=True, kw_only=True, tag="contract.Ping"):
    """``Ping`` at schema version 2: ``n`` became ``count`` (needs an upcaster)."""

    schema_version: ClassVar[int] = 2
    count: int
    note: str = ""


def new_registry(*extra: type[Event], with_pong: bool = True) -> EventRegistry:
    """A registry with the system events, ``Ping`` and (optionally) ``Pong``."""
    base: list[type[Event]] = [ActorFailed, ActorRestarted, ActorStopped, Ping]
    if with_pong:
        base.append(Pong)
    return EventRegistry([*base, *extra])


class FakeClock:
    """A wall clock that only moves when told to."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Backend:
    """Opens (and re-opens) one log implementation on one piece of storage.

    ``postgres`` is provided by ``tests.events._pg_backend`` (a throw-away database on
    the test cluster, given as ``dsn``).
    """

    def __init__(self, name: str, directory: Path, dsn: str | None = None) -> None:
        self.name = name
        self.path = directory / "events.sqlite3"
        self.dsn = dsn
        self._memory: MemoryEventLog | None = None

    async def open(self, registry: EventRegistry, now: Callable[[], float]) -> Log:
        """A fresh log on this backend's storage."""
        if self.name == "memory":
            self._memory = await MemoryEventLog.open(registry=registry, now=now)
            return self._memory
        if self.name == "postgres":
            from tests.events._pg_backend import open_postgres

            return await open_postgres(self, registry, now)
        from events._sqlite import SqliteEventLog

        return await SqliteEventLog.open(self.path, registry=registry, now=now)

    async def open_peer(self, registry: EventRegistry, now: Callable[[], float]) -> Log:
        """Another log object on the same storage, as another process would open it."""
        if self.name == "memory":
            assert self._memory is not None, "open() the first log before its peer"
            return self._memory.peer(registry=registry, now=now)
        return await self.open(registry, now)

    async def reopen(self, log: Log, registry: EventRegistry, now: Callable[[], float]) -> Log:
        """Close ``log`` and open its storage again, decoding with ``registry``."""
        await log.close()
        if self.name == "memory":
            reopened: MemoryEventLog = log.with_registry(registry)
            return reopened
        return await self.open(registry, now)


def backend_params() -> list[Any]:
    """``pytest.param``s for every backend, skipping SQLite while it does not exist."""
    skip = pytest.mark.skip(reason="events/_sqlite.py (SqliteEventLog) does not exist yet")
    return [
        pytest.param(name, marks=() if name == "memory" or SQLITE_AVAILABLE else skip)
        for name in BACKEND_NAMES
    ]


async def collect(events: Any) -> list[StoredEvent]:
    """Drain an async iterator of stored events."""
    return [stored async for stored in events]


def pings(*numbers: int) -> list[Ping]:
    return [Ping(n=n) for n in numbers]


Opener = Callable[[EventRegistry], Awaitable[Log]]


class EventLogContract:
    """Every promise of ``EventLog`` and ``SnapshotStore``; fixtures come from the subclass.

    Fixtures: ``log`` (open, empty, using ``registry`` and ``clock``), ``backend``,
    ``registry`` and ``clock``.
    """

    # -- positions, versions, atomicity -------------------------------------------------

    async def test_empty_log(self, log: Log) -> None:
        assert await log.last_position() == 0
        assert await log.stream_version("s") == 0
        assert await collect(log.read()) == []

    async def test_positions_are_gap_free_from_one_across_streams(self, log: Log) -> None:
        assert await log.append("a", pings(1)) == (1,)
        assert await log.append("b", pings(2, 3)) == (2, 3)
        assert await log.append("a", pings(4, 5, 6)) == (4, 5, 6)
        stored = await collect(log.read())
        assert [s.position for s in stored] == [1, 2, 3, 4, 5, 6]
        assert await log.last_position() == 6

    async def test_stream_versions_start_at_one_per_stream(self, log: Log) -> None:
        await log.append("a", pings(1, 2))
        await log.append("b", pings(3))
        await log.append("a", pings(4))
        stored = await collect(log.read())
        assert [(s.stream, s.stream_version) for s in stored] == [
            ("a", 1),
            ("a", 2),
            ("b", 1),
            ("a", 3),
        ]
        assert await log.stream_version("a") == 3
        assert await log.stream_version("b") == 1
        assert await log.stream_version("c") == 0

    async def test_envelope_and_round_trip(self, log: Log, clock: FakeClock) -> None:
        events = [Ping(n=1, note="é\x00 ☃"), ActorStopped(actor="x", reason="stopped")]
        await log.append("s", events, idempotency_key="k1")
        stored = await collect(log.read())
        assert [s.event for s in stored] == events
        assert [s.type for s in stored] == ["contract.Ping", "ActorStopped"]
        assert all(s.schema_version == 1 for s in stored)
        assert all(s.idempotency_key == "k1" and s.timestamp == clock.now for s in stored)

    async def test_append_is_all_or_nothing(self, log: Log, registry: EventRegistry) -> None:
        await log.append("s", pings(1))

        class NotRegistered(Event, frozen=True, kw_only=True, tag="contract.NotRegistered"):
            x: int = 0

        assert not registry.known("contract.NotRegistered")
        with pytest.raises((ValueError, TypeError, EventLogError)):
            await log.append("s", [Ping(n=2), NotRegistered(), Ping(n=3)])
        assert await log.last_position() == 1
        assert await log.stream_version("s") == 1
        assert await log.append("s", pings(4)) == (2,)

    async def test_append_of_no_events_is_refused(self, log: Log) -> None:
        with pytest.raises(ValueError):
            await log.append("s", [])
        assert await log.last_position() == 0

    async def test_concurrent_appends_get_distinct_gap_free_positions(self, log: Log) -> None:
        results = await asyncio.gather(
            *(log.append(f"s{i % 3}", pings(*range(i % 4 + 1))) for i in range(40))
        )
        flat = sorted(p for positions in results for p in positions)
        assert flat == list(range(1, len(flat) + 1))
        for positions in results:  # each append's positions are consecutive
            assert list(positions) == list(range(positions[0], positions[-1] + 1))
        for stream in ("s0", "s1", "s2"):
            versions = [s.stream_version for s in await collect(log.read(stream=stream))]
            assert versions == list(range(1, len(versions) + 1))

    # -- expected_version ---------------------------------------------------------------

    async def test_expected_version_zero_means_empty_stream(self, log: Log) -> None:
        assert await log.append("s", pings(1), expected_version=0) == (1,)
        with pytest.raises(ConcurrencyConflict) as caught:
            await log.append("s", pings(2), expected_version=0)
        assert (caught.value.stream, caught.value.expected, caught.value.actual) == ("s", 0, 1)

    async def test_expected_version_mismatch_writes_nothing(self, log: Log) -> None:
        await log.append("s", pings(1, 2))
        await log.append("other", pings(3))
        for wrong in (0, 1, 3, 7):
            with pytest.raises(ConcurrencyConflict) as caught:
                await log.append("s", pings(9), expected_version=wrong)
            assert caught.value.actual == 2
        assert await log.last_position() == 3
        assert await log.append("s", pings(4), expected_version=2) == (4,)
        assert await log.stream_version("s") == 3

    async def test_only_one_of_racing_conditional_appends_wins(self, log: Log) -> None:
        outcomes = await asyncio.gather(
            *(log.append("s", pings(i), expected_version=0) for i in range(10)),
            return_exceptions=True,
        )
        winners = [o for o in outcomes if isinstance(o, tuple)]
        assert len(winners) == 1
        assert all(isinstance(o, ConcurrencyConflict) for o in outcomes if o not in winners)
        assert await log.last_position() == 1

    # -- idempotency --------------------------------------------------------------------

    async def test_idempotent_retry_returns_earlier_positions(self, log: Log) -> None:
        first = await log.append("s", pings(1, 2), idempotency_key="req-1")
        await log.append("s", pings(3))
        again = await log.append("s", pings(1, 2), idempotency_key="req-1")
        assert again == first == (1, 2)
        assert await log.last_position() == 3

    async def test_idempotent_retry_writes_nothing_even_if_now_stale(self, log: Log) -> None:
        first = await log.append("s", pings(1), expected_version=0, idempotency_key="k")
        # A retry of an append that already succeeded: its expected_version is stale now,
        # but the caller must get the original positions, not a conflict.
        again = await log.append("s", pings(1), expected_version=0, idempotency_key="k")
        assert again == first
        other_stream = await log.append("t", pings(5), idempotency_key="k")
        assert other_stream == first
        assert await log.last_position() == 1
        assert await log.stream_version("t") == 0

    async def test_distinct_keys_are_independent(self, log: Log) -> None:
        assert await log.append("s", pings(1), idempotency_key="a") == (1,)
        assert await log.append("s", pings(2), idempotency_key="b") == (2,)
        assert await log.append("s", pings(3)) == (3,)
        assert await log.append("s", pings(4)) == (4,)  # no key: never deduplicated

    async def test_concurrent_duplicates_write_once(self, log: Log) -> None:
        results = await asyncio.gather(
            *(log.append("s", pings(1, 2), idempotency_key="same") for _ in range(10))
        )
        assert set(results) == {(1, 2)}
        assert await log.last_position() == 2

    # -- read filters -------------------------------------------------------------------

    async def _fill(self, log: Log, clock: FakeClock) -> None:
        """Positions 1..8; timestamps clock+0, +0, +10, +10, +20, +30, +30, +40."""
        await log.append("a", pings(1, 2))
        clock.advance(10)
        await log.append("b", [Pong(n=3), Ping(n=4)])
        clock.advance(10)
        await log.append("a", [Pong(n=5)])
        clock.advance(10)
        await log.append("c", pings(6, 7))
        clock.advance(10)
        await log.append("a", pings(8))

    @staticmethod
    def _ns(stored: list[StoredEvent]) -> list[int]:
        return [s.event.n for s in stored if isinstance(s.event, Ping | Pong)]

    async def test_read_position_bounds_are_inclusive(self, log: Log, clock: FakeClock) -> None:
        await self._fill(log, clock)
        assert self._ns(await collect(log.read(3))) == [3, 4, 5, 6, 7, 8]
        assert self._ns(await collect(log.read(3, to_position=5))) == [3, 4, 5]
        assert self._ns(await collect(log.read(to_position=1))) == [1]
        assert self._ns(await collect(log.read(8, to_position=8))) == [8]
        assert await collect(log.read(9)) == []
        assert await collect(log.read(5, to_position=4)) == []
        assert self._ns(await collect(log.read(2, to_position=100))) == [2, 3, 4, 5, 6, 7, 8]

    async def test_read_stream_and_types(self, log: Log, clock: FakeClock) -> None:
        await self._fill(log, clock)
        assert self._ns(await collect(log.read(stream="a"))) == [1, 2, 5, 8]
        assert await collect(log.read(stream="nope")) == []
        assert self._ns(await collect(log.read(types=["contract.Pong"]))) == [3, 5]
        assert self._ns(await collect(log.read(types={"contract.Pong", "contract.Ping"}))) == [
            1,
            2,
            3,
            4,
            5,
            6,
            7,
            8,
        ]
        assert await collect(log.read(types=[])) == []
        both = log.read(stream="a", types=("contract.Ping",))
        assert self._ns(await collect(both)) == [1, 2, 8]

    async def test_read_time_bounds_are_inclusive(self, log: Log, clock: FakeClock) -> None:
        start = clock.now
        await self._fill(log, clock)
        assert self._ns(await collect(log.read(since=start + 10))) == [3, 4, 5, 6, 7, 8]
        assert self._ns(await collect(log.read(until=start + 10))) == [1, 2, 3, 4]
        window = log.read(since=start + 10, until=start + 30)
        assert self._ns(await collect(window)) == [3, 4, 5, 6, 7]
        assert self._ns(await collect(log.read(since=start + 5, until=start + 15))) == [3, 4]
        assert await collect(log.read(since=start + 41)) == []
        assert await collect(log.read(until=start - 1)) == []

    async def test_read_limit_counts_matching_events(self, log: Log, clock: FakeClock) -> None:
        await self._fill(log, clock)
        assert self._ns(await collect(log.read(limit=3))) == [1, 2, 3]
        assert self._ns(await collect(log.read(stream="a", limit=3))) == [1, 2, 5]
        assert self._ns(await collect(log.read(4, stream="a", limit=1))) == [5]
        assert await collect(log.read(limit=0)) == []
        assert len(await collect(log.read(limit=100))) == 8

    async def test_read_all_filters_together(self, log: Log, clock: FakeClock) -> None:
        start = clock.now
        await self._fill(log, clock)
        stored = await collect(
            log.read(
                2,
                to_position=8,
                stream="a",
                types=["contract.Ping", "contract.Pong"],
                since=start,
                until=start + 20,
                limit=5,
            )
        )
        assert [s.position for s in stored] == [2, 5]

    async def test_large_read_is_complete_and_ordered(self, log: Log) -> None:
        for chunk in range(5):
            await log.append("s", pings(*range(chunk * 500, chunk * 500 + 500)))
        stored = await collect(log.read())
        assert [s.position for s in stored] == list(range(1, 2501))
        assert self._ns(stored) == list(range(2500))

    # -- subscribe ----------------------------------------------------------------------

    async def test_subscribe_yields_existing_then_live(self, log: Log) -> None:
        await log.append("a", pings(1, 2))
        seen: list[int] = []

        async def consume() -> None:
            async for stored in log.subscribe():
                seen.append(stored.position)
                if len(seen) == 5:
                    return

        task = asyncio.create_task(consume())
        await eventually(lambda: seen == [1, 2])  # the existing ones; now it waits
        await log.append("b", pings(3))
        await log.append("a", pings(4, 5))
        await asyncio.wait_for(task, 30)
        assert seen == [1, 2, 3, 4, 5]

    async def test_subscribe_filters_and_from_position(self, log: Log) -> None:
        await log.append("a", [Ping(n=1), Pong(n=2)])
        await log.append("b", pings(3))
        received: list[tuple[int, str]] = []

        async def consume() -> None:
            async for stored in log.subscribe(2, stream="a", types=["contract.Pong"]):
                received.append((stored.position, stored.stream))
                if len(received) == 2:
                    return

        task = asyncio.create_task(consume())
        await log.append("b", [Pong(n=4)])
        await log.append("a", [Ping(n=5), Pong(n=6)])
        await asyncio.wait_for(task, 30)
        assert received == [(2, "a"), (6, "a")]

    async def test_subscribe_ends_when_the_log_closes(self, log: Log) -> None:
        await log.append("a", pings(1))
        seen: list[int] = []

        async def consume() -> None:
            async for stored in log.subscribe():
                seen.append(stored.position)

        task = asyncio.create_task(consume())
        await eventually(lambda: seen == [1])  # following, and waiting for more
        await log.close()
        await asyncio.wait_for(task, 30)
        assert seen == [1]

    # -- close --------------------------------------------------------------------------

    async def test_close_is_idempotent_and_refuses_later_use(self, log: Log) -> None:
        await log.append("s", pings(1))
        await log.close()
        await log.close()
        with pytest.raises(EventLogClosed):
            await log.append("s", pings(2))
        with pytest.raises(EventLogClosed):
            await collect(log.read())

    async def test_close_keeps_every_acknowledged_append(
        self, log: Log, backend: Backend, registry: EventRegistry, clock: FakeClock
    ) -> None:
        tasks = [asyncio.create_task(log.append("s", pings(i))) for i in range(50)]
        await asyncio.sleep(0)
        await log.close()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        acknowledged = {o[0] for o in outcomes if isinstance(o, tuple)}
        assert all(isinstance(o, tuple | EventLogClosed) for o in outcomes)
        reopened = await backend.reopen(log, registry, clock)
        try:
            present = {s.position for s in await collect(reopened.read())}
            assert acknowledged <= present
            assert present == set(range(1, len(present) + 1))
        finally:
            await reopened.close()

    async def test_reopen_keeps_events_versions_keys_and_snapshots(
        self, log: Log, backend: Backend, registry: EventRegistry, clock: FakeClock
    ) -> None:
        await log.append("s", pings(1, 2), idempotency_key="k")
        await log.save_snapshot("p", 2, b"state")
        reopened = await backend.reopen(log, registry, clock)
        try:
            assert await reopened.last_position() == 2
            assert await reopened.stream_version("s") == 2
            assert await reopened.append("s", pings(1, 2), idempotency_key="k") == (1, 2)
            assert await reopened.append("s", pings(3)) == (3,)
            assert await reopened.load_snapshot("p") == (2, b"state")
        finally:
            await reopened.close()

    # -- snapshots ----------------------------------------------------------------------

    async def test_snapshots_latest_and_at_or_before(self, log: Log) -> None:
        await log.append("s", pings(*range(30)))
        assert await log.load_snapshot("p") is None
        for position in (10, 20, 30):
            await log.save_snapshot("p", position, f"state@{position}".encode())
        await log.save_snapshot("q", 5, b"other")
        assert await log.load_snapshot("p") == (30, b"state@30")
        assert await log.load_snapshot("p", at_or_before=30) == (30, b"state@30")
        assert await log.load_snapshot("p", at_or_before=29) == (20, b"state@20")
        assert await log.load_snapshot("p", at_or_before=10) == (10, b"state@10")
        assert await log.load_snapshot("p", at_or_before=9) is None
        assert await log.load_snapshot("q") == (5, b"other")
        assert await log.load_snapshot("r") is None

    async def test_snapshot_saved_again_at_a_position_replaces_it(self, log: Log) -> None:
        await log.append("s", pings(1, 2))
        await log.save_snapshot("p", 2, b"old")
        await log.save_snapshot("p", 2, b"new")
        assert await log.load_snapshot("p") == (2, b"new")

    async def test_snapshot_bytes_are_kept_exactly(self, log: Log) -> None:
        await log.append("s", pings(1))
        blob = bytes(range(256)) * 40
        await log.save_snapshot("p", 1, blob)
        assert await log.load_snapshot("p") == (1, blob)

    # -- schema evolution: unknown types, newer versions, upcasting ---------------------

    async def test_unknown_types_are_preserved_and_counted(
        self, log: Log, backend: Backend, clock: FakeClock
    ) -> None:
        await log.append("s", [Ping(n=1), Pong(n=2), Ping(n=3)])
        old = new_registry(with_pong=False)  # an older release: no Pong
        reopened = await backend.reopen(log, old, clock)
        try:
            stored = await collect(reopened.read())
            assert [s.position for s in stored] == [1, 2, 3]
            assert stored[0].event == Ping(n=1) and stored[2].event == Ping(n=3)
            unknown = stored[1].event
            assert isinstance(unknown, UnknownEvent)
            assert (unknown.type, unknown.schema_version) == ("contract.Pong", 1)
            assert new_registry().decode(unknown.type, 1, unknown.payload) == Pong(n=2)
            assert stored[1].type == "contract.Pong"
            assert old.unknown_count == 1
            if hasattr(reopened, "unknown_count"):
                assert reopened.unknown_count >= 1
            # Appending through the older release still works and keeps positions.
            assert await reopened.append("s", pings(4)) == (4,)
        finally:
            await reopened.close()

    async def test_newer_schema_version_is_unknown_not_an_error(
        self, backend: Backend, clock: FakeClock
    ) -> None:
        newer = EventRegistry([PingV2])
        log = await backend.open(newer, clock)
        await log.append("s", [PingV2(count=7)])
        older = new_registry()  # knows contract.Ping only at version 1
        reopened = await backend.reopen(log, older, clock)
        try:
            (stored,) = await collect(reopened.read())
            assert isinstance(stored.event, UnknownEvent)
            assert stored.event.schema_version == 2
            assert older.unknown_count == 1
        finally:
            await reopened.close()

    async def test_old_schema_versions_are_upcast_on_read(
        self, log: Log, backend: Backend, clock: FakeClock
    ) -> None:
        await log.append("s", [Ping(n=5, note="x")])
        upgraded = EventRegistry([PingV2])
        upgraded.add_upcaster("contract.Ping", 1, lambda d: {"count": d.pop("n"), **d})
        reopened = await backend.reopen(log, upgraded, clock)
        try:
            (stored,) = await collect(reopened.read())
            assert stored.event == PingV2(count=5, note="x")
            assert stored.schema_version == 1  # the envelope says how it was written
        finally:
            await reopened.close()


# -- an example projection shared by the replay tests -----------------------------------


class Totals(msgspec.Struct, frozen=True, kw_only=True):
    """Example state: how many ``Ping``s per note, their running sum, and failures seen."""

    pings: dict[str, int] = msgspec.field(default_factory=dict)
    total: int = 0
    failures: int = 0


def evolve_totals(state: Totals, event: Event | UnknownEvent) -> Totals:
    """A pure, total fold; anything it does not know (``UnknownEvent`` too) is ignored."""
    match event:
        case Ping(n=n, note=note):
            pings = {**state.pings, note: state.pings.get(note, 0) + 1}
            return msgspec.structs.replace(state, pings=pings, total=state.total + n)
        case ActorFailed():
            return msgspec.structs.replace(state, failures=state.failures + 1)
        case _:
            return state


TOTALS = Projection(name="totals", initial=Totals(), evolve=evolve_totals, state_type=Totals)
