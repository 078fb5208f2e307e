"""Event log benchmark: ``SqliteEventLog`` against raw ``sqlite3`` on the same rows.

Run: ``python -m tests.bench.eventlog [--events N] [--quick] [--profile]``.

Everything is measured side by side in one run, in one temporary directory (so on one
file system), and printed with PASS/MISS against the targets; nothing is asserted:

1. append: 200 concurrent appenders, each appending single events in a loop, through the
   log's group commit, vs one ``executemany`` of the same rows (same table, same payload
   bytes) in one transaction. Target ratio >= 0.4. Two workloads, each with its own raw
   baseline: (a) the runtime's pattern, every append to a fresh time-ordered stream
   (``request/<id>``), and (b) 200 long-lived streams appended to round-robin. With
   200 appenders a batch holds at most 200 rows, and (b) dirties ~200 scattered leaf
   pages of the ``(stream, stream_version)`` index per commit, so even raw sqlite3 at 200
   rows per commit reaches only about a third of one transaction there; the "reference"
   line prints that cost of commit granularity alone.
2. replay: read + decode + fold of every event through ``replay`` vs raw ``SELECT`` +
   msgspec decode + the same fold. Target ratio >= 0.5.
3. cold start: ``Projector.start`` on a 1,000,000-event log (rows written with raw
   sqlite3 in the log's own schema) with a snapshot 1,000 events before the end.
   Target < 1 s.

``--profile`` runs the log's side of 1 and 2 under cProfile and prints where the event
loop's time goes (SQLite's own work runs in aiosqlite's thread and shows up as waiting).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import sqlite3
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import msgspec

from events._base import Event, UnknownEvent
from events._codec import default_registry
from events._replay import Projection, fold, replay
from events._snapshots import Projector
from events._sqlite import SqliteEventLog
from events._sqlite_codec import TypeInfo, first_dictionary, pack, tag_prefix, unpack
from events._sqlite_rows import COLUMNS, FROM
from events._sqlite_schema import prepare_writer
from events._system import ActorRestarted

T = TypeVar("T")

APPENDERS = 200
TAIL = 1_000
APPEND_TARGET = 0.4
REPLAY_TARGET = 0.5
COLD_START_TARGET = 1.0
INSERT = "INSERT INTO log_events VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
STREAMS = (
    "INSERT INTO log_streams (id, name, version) VALUES (?, ?, ?) "
    "ON CONFLICT (id) DO UPDATE SET version = excluded.version"
)
SELECT_ALL = f"SELECT {COLUMNS} FROM {FROM} ORDER BY e.position"

Row = tuple[int, int, int, float, int, int, None, bytes]
"""A row as the log writes it (file format 2): stream and type ids, packed payload."""


class BenchState(msgspec.Struct, frozen=True):
    """A cheap fold, so the numbers measure the log rather than the projection."""

    count: int = 0
    restart_sum: int = 0


def evolve(state: BenchState, event: Event | UnknownEvent) -> BenchState:
    if isinstance(event, ActorRestarted):
        return BenchState(state.count + 1, state.restart_sum + event.restart)
    return state


PROJECTION = Projection(name="bench", initial=BenchState(), evolve=evolve, state_type=BenchState)


@dataclass(frozen=True)
class Workload:
    """Which stream event ``i`` (0-based) goes to, and its version there."""

    label: str
    place: Callable[[int], tuple[str, int, int]]
    """Stream name, version there, and the stream's id in the file."""


def request_stream(i: int) -> tuple[str, int, int]:
    # The runtime names per-request streams by a time-ordered id: each is new.
    return f"request/{i:012x}", 1, i + 1


def actor_stream(i: int) -> tuple[str, int, int]:
    return f"actor/actor-{i % APPENDERS}", i // APPENDERS + 1, i % APPENDERS + 1


RUNTIME = Workload("(a) runtime pattern: a fresh time-ordered stream per append", request_stream)
ROUND_ROBIN = Workload("(b) 200 long-lived streams, appended to round-robin", actor_stream)


def make_event(i: int) -> ActorRestarted:
    """Event ``i`` (0-based); appender ``i % 200`` appends it."""
    return ActorRestarted(actor=f"actor-{i % APPENDERS}", restart=i, delay=0.25)


def bench_type() -> TypeInfo:
    """The ``log_types`` row the log gives the benchmark's event type (id 1: the first)."""
    name, _, first = default_registry.encode(make_event(0))
    prefix = tag_prefix(name)
    return TypeInfo(1, name, first_dictionary(first, prefix), prefix)


def make_rows(
    count: int, start: int = 0, timestamp: float = 1.7e9, workload: Workload = ROUND_ROBIN
) -> Iterator[tuple[Row, tuple[int, str, int]]]:
    """The rows the log itself would write for events ``start .. start + count - 1``
    (payloads packed here, outside any timing), each with its ``log_streams`` row."""
    encode = default_registry.encode
    kind = bench_type()
    for i in range(start, start + count):
        stream, version, stream_id = workload.place(i)
        _, schema_version, payload = encode(make_event(i))
        row = (
            i + 1,
            stream_id,
            version,
            timestamp,
            kind.id,
            schema_version,
            None,
            pack(kind, payload),
        )
        yield row, (stream_id, stream, version)


def raw_connection(path: Path) -> sqlite3.Connection:
    """A raw connection on a file with the log's schema and pragmas (its own DDL code)."""
    conn = sqlite3.connect(path, isolation_level=None)
    prepare_writer(conn, path, "normal", None)
    kind = bench_type()
    conn.execute("INSERT INTO log_types VALUES (?, ?, ?)", (kind.id, kind.name, kind.dictionary))
    return conn


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


async def atimed(coro: Awaitable[T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = await coro
    return result, time.perf_counter() - started


class Profiler:
    """Optionally profiles the log's side of a measurement and keeps the report."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.reports: list[str] = []

    async def run(self, label: str, coro: Awaitable[T]) -> T:
        if not self.enabled:
            return await coro
        profile = cProfile.Profile()
        profile.enable()
        try:
            return await coro
        finally:
            profile.disable()
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(18)
            self.reports.append(f"--- profile: {label} (sorted by own time) ---\n{out.getvalue()}")


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def target_line(ratio: float, target: float) -> str:
    return f"  (target >= {target})  {verdict(ratio >= target)}"


async def bench_append(
    directory: Path, events: int, profiler: Profiler, workload: Workload
) -> tuple[SqliteEventLog, float]:
    """Part 1 for one workload; returns the (open) log and its ratio to raw sqlite3."""
    name = workload.place.__name__
    log = await SqliteEventLog.open(directory / f"append_{name}.sqlite3")
    per_appender = events // APPENDERS

    async def appender(k: int) -> None:
        for j in range(per_appender):
            i = j * APPENDERS + k
            await log.append(workload.place(i)[0], [make_event(i)])

    async def all_appenders() -> None:
        await asyncio.gather(*(appender(k) for k in range(APPENDERS)))

    _, log_seconds = await atimed(profiler.run(f"append {name}", all_appenders()))
    total = per_appender * APPENDERS
    rows = list(make_rows(total, workload=workload))
    _, raw_seconds = timed(lambda: raw_batched(directory / f"raw_{name}.sqlite3", rows, total))
    stats = log.statistics()
    batch = max(1, round(stats.events_committed / max(stats.batches_committed, 1)))
    path = directory / f"raw_{name}_batched.sqlite3"
    _, batched_seconds = timed(lambda: raw_batched(path, rows, batch))
    log_rate, raw_rate = total / log_seconds, total / raw_seconds
    ratio = log_rate / raw_rate
    print(f"    {workload.label}")
    print(f"        SqliteEventLog   {log_rate:>12,.0f} events/s  ({log_seconds:.2f} s)")
    print(f"        raw executemany  {raw_rate:>12,.0f} events/s  ({raw_seconds:.2f} s)")
    print(f"        ratio {ratio:.2f}  (>= {APPEND_TARGET})  {verdict(ratio >= APPEND_TARGET)}")
    print(
        f"        reference: raw executemany in the log's batches ({batch} rows/commit, "
        f"{stats.batches_committed:,} commits) {total / batched_seconds:,.0f} events/s "
        f"= {raw_seconds / batched_seconds:.2f} of one transaction; "
        f"log/that = {batched_seconds / log_seconds:.2f}"
    )
    return log, ratio


async def bench_appends(directory: Path, events: int, profiler: Profiler) -> SqliteEventLog:
    """Part 1, both workloads; returns the round-robin log (open) for part 2."""
    total = events // APPENDERS * APPENDERS
    print(f"append  {total:>9,} events, {APPENDERS} concurrent appenders, 1 event per append")
    runtime_log, runtime = await bench_append(directory, events, profiler, RUNTIME)
    await runtime_log.close()
    log, round_robin = await bench_append(directory, events, profiler, ROUND_ROBIN)
    print(
        f"        append target >= {APPEND_TARGET}: (a) runtime pattern {runtime:.2f} "
        f"{verdict(runtime >= APPEND_TARGET)}, (b) round-robin {round_robin:.2f} "
        f"{verdict(round_robin >= APPEND_TARGET)}"
    )
    return log


def raw_batched(path: Path, rows: list[tuple[Row, tuple[int, str, int]]], batch: int) -> None:
    """The rows committed ``batch`` at a time (all of them: one transaction), with the
    log's own DDL and PRAGMAs (``prepare_writer``), stream rows upserted as the log does."""
    conn = raw_connection(path)
    try:
        for start in range(0, len(rows), batch):
            chunk = rows[start : start + batch]
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(INSERT, [row for row, _ in chunk])
            conn.executemany(STREAMS, {s[0]: s for _, s in chunk}.values())
            conn.execute("COMMIT")
    finally:
        conn.close()


async def bench_replay(log: SqliteEventLog, directory: Path, profiler: Profiler) -> float:
    """Part 2: full replay through the log vs raw read + decode + the same fold."""
    await log.close()
    log = await SqliteEventLog.open(log.path)
    try:
        (state, last), log_seconds = await atimed(
            profiler.run("replay", replay(log, evolve, BenchState()))
        )
    finally:
        await log.close()
    kind = bench_type()
    decoder = msgspec.json.Decoder(default_registry.types[kind.name])

    def raw_replay() -> BenchState:
        conn = sqlite3.connect(log.path)
        try:
            rows = conn.execute(SELECT_ALL).fetchall()
        finally:
            conn.close()
        events = (decoder.decode(unpack(kind, row[7])) for row in rows)
        return fold(evolve, BenchState(), events)

    raw_state, raw_seconds = timed(raw_replay)
    if raw_state != state:
        raise AssertionError(f"replays disagree: log {state} vs raw {raw_state}")
    ratio = raw_seconds / log_seconds
    print(f"replay  {last:>9,} events (read + decode + fold)")
    print(f"        SqliteEventLog   {last / log_seconds:>12,.0f} events/s  ({log_seconds:.2f} s)")
    print(f"        raw sqlite3      {last / raw_seconds:>12,.0f} events/s  ({raw_seconds:.2f} s)")
    print(f"        ratio {ratio:.2f}" + target_line(ratio, REPLAY_TARGET))
    return ratio


def build_big_log(path: Path, total: int) -> BenchState:
    """Write ``total`` rows with raw sqlite3; return the fold of the first ``total - TAIL``."""
    conn = raw_connection(path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        streams: dict[int, tuple[int, str, int]] = {}

        def rows() -> Iterator[Row]:
            for row, stream in make_rows(total):
                streams[stream[0]] = stream
                yield row

        conn.executemany(INSERT, rows())
        conn.executemany(STREAMS, streams.values())
        conn.execute("COMMIT")
    finally:
        conn.close()
    cut = total - TAIL
    # ActorRestarted.restart == i for event i, so the fold has a closed form.
    return BenchState(count=cut, restart_sum=cut * (cut - 1) // 2)


async def bench_cold_start(directory: Path, total: int) -> float:
    """Part 3: snapshot at ``total - TAIL`` + tail replay on a ``total``-event log."""
    path = directory / "big.sqlite3"
    snapshot, build_seconds = timed(lambda: build_big_log(path, total))
    log = await SqliteEventLog.open(path)
    try:
        await log.save_snapshot(PROJECTION.name, total - TAIL, msgspec.json.encode(snapshot))
    finally:
        await log.close()
    started = time.perf_counter()
    log = await SqliteEventLog.open(path)
    opened = time.perf_counter()
    try:
        projector = await Projector.start(log, PROJECTION)
        done = time.perf_counter()
    finally:
        await log.close()
    expected = BenchState(count=total, restart_sum=total * (total - 1) // 2)
    if (projector.state, projector.position) != (expected, total):
        raise AssertionError(f"cold start got {projector.state} at {projector.position}")
    start_seconds = done - opened
    print(f"cold    {total:>9,} events, snapshot at {total - TAIL:,}, tail {TAIL:,}")
    print(f"        build with raw sqlite3 {build_seconds:.1f} s (not a measurement)")
    print(f"        open {opened - started:.3f} s, Projector.start {start_seconds:.3f} s")
    ok = start_seconds < COLD_START_TARGET
    print(
        f"        Projector.start {start_seconds:.3f} s  (target < {COLD_START_TARGET} s)  "
        f"{verdict(ok)}"
    )
    return start_seconds


async def main(events: int, big: int, profile: bool) -> None:
    profiler = Profiler(profile)
    with tempfile.TemporaryDirectory(prefix="eventlog-bench-") as tmp:
        directory = Path(tmp)
        print(f"temp dir {directory} (all files on the same file system)")
        log = await bench_appends(directory, events, profiler)
        await bench_replay(log, directory, profiler)
        await bench_cold_start(directory, big)
    for report in profiler.reports:
        print(report)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--events", type=int, default=100_000, help="events for parts 1-2")
    parser.add_argument(
        "--big", type=int, default=1_000_000, help="events in the cold-start log (part 3)"
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test")
    parser.add_argument("--profile", action="store_true", help="cProfile the log's side")
    args = parser.parse_args(argv)
    if args.quick:
        args.events, args.big = min(args.events, 4_000), min(args.big, 20_000)
    if args.events < APPENDERS or args.big <= TAIL:
        parser.error(f"--events must be >= {APPENDERS} and --big > {TAIL}")
    return args


if __name__ == "__main__":
    # The log's own lines would interleave with the table: the library prints nothing
    # unless logging is configured, and this script does not configure it.
    options = parse_args()
    asyncio.run(main(options.events, options.big, options.profile))
