"""The many-writers and compaction parts of the ``EventLog`` contract.

``peer`` is another log object on the same storage, standing in for another process
(SQLite file) or machine (PostgreSQL database): ``Backend.open_peer``. Run by
``test_contract.py`` for every backend.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from events._codec import EventRegistry
from events._errors import ConcurrencyConflict
from events._pipeline import CommittedBatch
from tests._wait import eventually
from tests.events.contract import Backend, FakeClock, Log, collect, pings


class Hooked:
    """What a log's commit hooks received, batch by batch."""

    def __init__(self, log: Log) -> None:
        self.batches: list[CommittedBatch] = []
        log.on_commit(self.batches.append)

    @property
    def positions(self) -> list[int]:
        return [s.position for b in self.batches for s in b.events]

    def foreign_positions(self) -> list[int]:
        return [s.position for b in self.batches if b.foreign for s in b.events]

    def own_positions(self) -> list[int]:
        return [s.position for b in self.batches if not b.foreign for s in b.events]


@pytest.fixture
async def peer(
    log: Log, backend: Backend, registry: EventRegistry, clock: FakeClock
) -> AsyncIterator[Log]:
    other = await backend.open_peer(registry, clock)
    try:
        yield other
    finally:
        await other.close()


class MultiWriterContract:
    """Two log objects on one storage: positions, versions, hooks, tail, conflicts."""

    async def test_positions_stay_gap_free_across_writers(self, log: Log, peer: Log) -> None:
        for n in range(6):
            writer = log if n % 2 else peer
            await writer.append("s", pings(n, n + 100))
            writer.append_nowait(f"t{n % 3}", pings(n))
        await log.flush()
        await peer.flush()
        stored = await collect(log.read())
        assert [s.position for s in stored] == list(range(1, 19))
        assert [s.position for s in await collect(peer.read())] == list(range(1, 19))
        for stream in ("s", "t0", "t1", "t2"):
            versions = [s.stream_version for s in stored if s.stream == stream]
            assert versions == list(range(1, len(versions) + 1))
        assert await log.last_position() == await peer.last_position() == 18
        assert await log.stream_version("s") == await peer.stream_version("s") == 12

    async def test_the_tail_delivers_other_writers_commits_in_order(
        self, log: Log, peer: Log
    ) -> None:
        seen = Hooked(log)
        await peer.append("a", pings(1, 2))
        peer.append_nowait("b", pings(3), urgent=True)
        await peer.flush()
        await eventually(lambda: seen.positions == [1, 2, 3])  # nothing of ours: the tail
        assert all(batch.foreign for batch in seen.batches)
        assert [s.event for b in seen.batches for s in b.events] == pings(1, 2, 3)
        assert all(b.appends == 0 for b in seen.batches)

    async def test_an_own_commit_delivers_the_others_commits_before_it(
        self, log: Log, peer: Log
    ) -> None:
        seen = Hooked(log)
        await peer.append("a", pings(1, 2))
        assert await log.append("b", pings(3)) == (3,)
        assert seen.positions == [1, 2, 3]  # no wait: the own commit brought them first
        assert seen.foreign_positions() == [1, 2]
        assert seen.own_positions() == [3]
        own = [b for b in seen.batches if not b.foreign]
        assert own[0].appends == 1

    async def test_every_position_is_delivered_once_in_order_under_interleaving(
        self, log: Log, peer: Log
    ) -> None:
        seen, seen_by_peer = Hooked(log), Hooked(peer)
        for n in range(20):
            (log if n % 3 else peer).append_nowait("s", pings(n), urgent=n % 4 == 0)
            if n % 5 == 0:
                await (peer if n % 2 else log).append("k", pings(n))
        await log.flush()
        await peer.flush()
        last = await log.last_position()
        assert await log.catch_up() == last
        assert await peer.catch_up() == last
        assert seen.positions == list(range(1, last + 1))
        assert seen_by_peer.positions == list(range(1, last + 1))
        assert set(seen.own_positions()) == set(seen_by_peer.foreign_positions())
        assert set(seen.foreign_positions()) == set(seen_by_peer.own_positions())
        for batch in seen.batches:
            assert batch.events, "no empty batches"

    async def test_catch_up_delivers_without_waiting_for_the_tail(
        self, log: Log, peer: Log
    ) -> None:
        seen = Hooked(log)
        await peer.append("a", pings(1, 2, 3))
        assert await log.catch_up() == 3
        assert seen.positions == [1, 2, 3]
        assert await log.catch_up() == 3  # nothing new: nothing delivered twice
        assert seen.positions == [1, 2, 3]

    async def test_expected_version_sees_the_other_writers_commits(
        self, log: Log, peer: Log
    ) -> None:
        await peer.append("q", pings(1))
        with pytest.raises(ConcurrencyConflict):
            await log.append("q", pings(2), expected_version=0)
        assert await log.append("q", pings(2), expected_version=1) == (2,)
        assert await peer.stream_version("q") == 2

    async def test_a_conflicting_background_append_fails_alone(self, log: Log, peer: Log) -> None:
        await peer.append("q", pings(1))
        before = log.append_nowait("other", pings(2))
        stale = log.append_nowait("q", pings(3), expected_version=0)
        fresh = log.append_nowait("q", pings(4), expected_version=1)
        after = log.append_nowait("other", pings(5))
        await log.flush()
        with pytest.raises(ConcurrencyConflict):
            await stale
        assert await before == (2,)
        assert await fresh == (3,)
        assert await after == (4,)
        stored = await collect(peer.read(stream="q"))
        assert [s.event for s in stored] == pings(1, 4)
        assert [s.stream_version for s in stored] == [1, 2]

    async def test_expected_version_counts_own_appends_queued_before(self, log: Log) -> None:
        first = log.append_nowait("q", pings(1), expected_version=0)
        second = log.append_nowait("q", pings(2), expected_version=1)
        await log.flush()
        assert (await first, await second) == ((1,), (2,))

    async def test_subscribe_yields_the_other_writers_events(self, log: Log, peer: Log) -> None:
        seen: list[int] = []

        async def follow() -> None:
            async for stored in log.subscribe():
                seen.append(stored.event.n)

        task = asyncio.create_task(follow())
        try:
            await peer.append("a", pings(7))
            await eventually(lambda: seen == [7])
            await peer.append("a", pings(8))
            await eventually(lambda: seen == [7, 8])
        finally:
            task.cancel()


async def test_a_negative_limit_is_refused_by_every_log(log: Log) -> None:
    await log.append("a", pings(1))
    with pytest.raises(ValueError, match="limit"):
        await collect(log.read(limit=-1))


class CompactionContract:
    """``compact`` and ``bounds``: a prefix goes, everything else stays as it was."""

    async def test_bounds_of_an_empty_log(self, log: Log) -> None:
        bounds = await log.bounds()
        assert (bounds.first_position, bounds.last_position) == (1, 0)
        assert bounds.compacted_through == 0 and bounds.compacted_at is None
        assert bounds.first_timestamp is None and bounds.last_timestamp is None

    async def test_compact_deletes_a_prefix_and_keeps_the_rest(
        self, log: Log, clock: FakeClock
    ) -> None:
        await log.append("a", pings(1, 2))
        clock.advance(10)
        await log.append("b", pings(3))
        await log.append("a", pings(4))
        assert await log.compact(2) == 2
        stored = await collect(log.read())
        assert [s.position for s in stored] == [3, 4]
        assert [(s.stream, s.stream_version) for s in stored] == [("b", 1), ("a", 3)]
        assert await log.stream_version("a") == 3  # versions survive their events
        assert await log.append("a", pings(5)) == (5,)
        assert [s.stream_version for s in await collect(log.read(stream="a"))] == [3, 4]
        bounds = await log.bounds()
        assert (bounds.first_position, bounds.last_position) == (3, 5)
        assert bounds.compacted_through == 2
        assert bounds.compacted_at == clock.now
        assert bounds.first_timestamp == clock.now
        assert await log.last_position() == 5

    async def test_compact_through_everything_leaves_an_empty_range(self, log: Log) -> None:
        await log.append("a", pings(1, 2))
        assert await log.compact(2) == 2
        bounds = await log.bounds()
        assert (bounds.first_position, bounds.last_position) == (3, 2)
        assert await collect(log.read()) == []
        assert await log.append("a", pings(3), expected_version=2) == (3,)

    async def test_compact_again_or_below_is_harmless(self, log: Log) -> None:
        await log.append("a", pings(1, 2, 3))
        assert await log.compact(2) == 2
        assert await log.compact(1) == 0
        assert (await log.bounds()).compacted_through == 2
        assert await log.compact(0) == 0

    async def test_compact_beyond_the_end_is_refused(self, log: Log) -> None:
        await log.append("a", pings(1))
        with pytest.raises(ValueError):
            await log.compact(2)
        with pytest.raises(ValueError):
            await log.compact(-1)
        assert [s.position for s in await collect(log.read())] == [1]

    async def test_snapshots_before_the_cut_go_and_later_ones_stay(self, log: Log) -> None:
        await log.append("a", pings(1, 2, 3, 4))
        await log.save_snapshot("p", 1, b"one")
        await log.save_snapshot("p", 3, b"three")
        await log.compact(2)
        assert await log.load_snapshot("p") == (3, b"three")
        assert await log.load_snapshot("p", at_or_before=2) is None

    async def test_idempotency_keys_of_compacted_events_are_forgotten(self, log: Log) -> None:
        assert await log.append("a", pings(1), idempotency_key="k") == (1,)
        await log.append("a", pings(2), idempotency_key="kept")
        await log.compact(1)
        assert await log.append("a", pings(1), idempotency_key="k") == (3,)
        assert await log.append("a", pings(2), idempotency_key="kept") == (2,)

    async def test_a_peer_reads_the_compacted_range(
        self, log: Log, backend: Backend, registry: EventRegistry, clock: FakeClock
    ) -> None:
        await log.append("a", pings(1, 2, 3))
        await log.compact(2)
        other = await backend.open_peer(registry, clock)
        try:
            assert [s.position for s in await collect(other.read())] == [3]
            assert (await other.bounds()).compacted_through == 2
            assert await other.stream_version("a") == 3
        finally:
            await other.close()

    async def test_reads_by_stream_and_type_after_compaction(self, log: Log) -> None:
        await log.append("a", pings(1, 2))
        await log.append("b", pings(3))
        await log.compact(1)
        assert [s.position for s in await collect(log.read(stream="a"))] == [2]
        assert [s.position for s in await collect(log.read(types=["contract.Ping"]))] == [2, 3]
        assert [s.position for s in await collect(log.read(from_position=1, limit=1))] == [2]
