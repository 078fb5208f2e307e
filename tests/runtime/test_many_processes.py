"""The acceptance test of many runtimes on one log: three ``runtime.serve`` processes.

Each test runs on one SQLite file shared by three processes and on one PostgreSQL
database shared by three processes standing in for three machines (the throw-away
cluster of ``tests/_postgres.py``; skipped without its binaries). The load comes from
this process over HTTP, to all three at once; the chaos backends run here too, so what
they received is counted exactly.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from events import QUOTA_LEDGER_STREAM, DeploymentQuarantined, RequestSucceeded
from runtime.testing import ChaosServer, Fault
from tests._wait import eventually
from tests.runtime._processes import (
    CHAT_BODY,
    CHAT_ROUTE,
    LogPlace,
    Served,
    quota_used,
    read_log,
    serving_group,
    statuses,
    until,
    write_config,
)

pytestmark = pytest.mark.slow

BAD = "llama3@a"
WORKERS = 3
"""Requests each process has in flight at once, under load."""


@pytest.fixture(params=["sqlite", "postgres"])
def place(request: pytest.FixtureRequest, tmp_path: Path) -> LogPlace:
    if request.param == "sqlite":
        return LogPlace("sqlite", str(tmp_path / "events.sqlite3"))
    return LogPlace("postgres", str(request.getfixturevalue("postgres_dsn")))


@pytest.fixture
async def backends() -> AsyncIterator[tuple[ChaosServer, ChaosServer]]:
    async with ChaosServer(["llama3"], seed=1) as a, ChaosServer(["llama3"], seed=2) as b:
        yield a, b


def chats(*servers: ChaosServer) -> int:
    return sum(s.requests_for(route="/api/chat") for s in servers)


async def chat(served: Served, http: httpx.AsyncClient) -> httpx.Response:
    reply = await http.post(CHAT_ROUTE, json=CHAT_BODY)
    if reply.status_code == 200:
        served.answered.append(reply.headers["x-request-id"])
    return reply


class Load:
    """``WORKERS`` requests in flight to each server until ``stop``; every status kept."""

    def __init__(self, group: list[Served]) -> None:
        self.statuses: list[int] = []
        self.errors: list[str] = []
        self._stop = asyncio.Event()
        self._tasks = [asyncio.create_task(self._worker(s)) for s in group for _ in range(WORKERS)]

    async def _worker(self, served: Served) -> None:
        async with served.client() as http:
            while not self._stop.is_set():
                try:
                    reply = await chat(served, http)
                except httpx.TransportError:
                    return  # the process was killed
                self.statuses.append(reply.status_code)
                if reply.status_code != 200:
                    self.errors.append(f"{served.name}: {reply.status_code} {reply.text}")

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)


async def test_a_daily_limit_of_n_answers_exactly_n_over_three_processes(
    place: LogPlace, tmp_path: Path, backends: tuple[ChaosServer, ChaosServer]
) -> None:
    limit, each = 20, 16
    backend_urls = {"a": backends[0].url, "b": backends[1].url}
    config = write_config(tmp_path / "llm.yaml", place, backend_urls, daily_requests=limit)
    async with serving_group(config, tmp_path) as group:

        async def burst(served: Served) -> list[httpx.Response]:
            async with served.client() as http:
                return list(await asyncio.gather(*(chat(served, http) for _ in range(each))))

        replies = [r for rs in await asyncio.gather(*(burst(s) for s in group)) for r in rs]
        refused = [r for r in replies if r.status_code == 429]
        answered = sum(r.status_code == 200 for r in replies)
        assert answered == limit, await _ledger_history(place)
        assert len(refused) == 3 * each - limit, {r.status_code for r in replies}
        assert {r.json()["error"]["code"] for r in refused} == {"quota_exceeded"}
        assert chats(*backends) == limit
        for served in group:  # every process folded the others' reservations
            await until(lambda s=served: _used_is(s, limit))  # type: ignore[misc]
    succeeded = await read_log(place, "RequestSucceeded")
    assert len(succeeded) == limit


async def _ledger_history(place: LogPlace) -> str:
    """The quota ledger, one event a line (for a failing assertion)."""
    return "\n".join(
        f"{e.position} v{e.stream_version} {type(e.event).__name__} "
        f"{getattr(e.event, 'reservation_id', '')} {getattr(e.event, 'request_id', '')}"
        for e in await read_log(place)
        if e.stream == QUOTA_LEDGER_STREAM
    )


async def _used_is(served: Served, value: float) -> bool:
    return await quota_used(served) == value


async def test_every_process_stops_sending_to_a_bad_backend_and_a_reset_reaches_all(
    place: LogPlace, tmp_path: Path, backends: tuple[ChaosServer, ChaosServer]
) -> None:
    a, b = backends
    config = write_config(tmp_path / "llm.yaml", place, {"a": a.url, "b": b.url})
    async with serving_group(config, tmp_path) as group:
        a.set_fault(Fault(kind="http_error", status=500))  # answers, and counts, every call
        first = asyncio.create_task(_first_quarantine(place, a))
        load = Load(group)
        sent_at_first = await asyncio.wait_for(first, 60)
        for served in group:
            await until(lambda s=served: _status_is(s, "quarantined"))  # type: ignore[misc]
        await load.stop()
        in_flight = 3 * WORKERS  # each request tries a at most once (2 attempts: a, b)
        assert chats(a) - sent_at_first <= in_flight, (sent_at_first, chats(a))
        after_all_knew = chats(a)
        more = Load(group)
        await eventually(lambda: _more(more, 30), within=60)
        await more.stop()
        assert chats(a) == after_all_knew  # nobody sends to it any more
        assert set(more.statuses) == {200}  # b answers everything
        decisions = [
            e.event for e in await read_log(place, "DeploymentQuarantined")
            if isinstance(e.event, DeploymentQuarantined)
        ]  # fmt: skip
        history = await _health_history(place)

        a.clear_faults()
        async with group[1].client() as http:
            reset = await http.post("/admin/health/reset", json={"target": BAD, "reason": "fixed"})
        assert reset.status_code == 200, reset.text
        for served in group:  # the reset, made through the second, reaches all
            await until(lambda s=served: _status_is(s, "unknown"), within=30)  # type: ignore[misc]
        before = chats(a)
        again = Load(group)
        await eventually(lambda: chats(a) >= before + 3, within=60)  # a is chosen again
        await again.stop()
    # At most one decision per process, each the first quarantine: no process lifted it
    # on another's late event and quarantined again (for twice as long).
    assert 1 <= len(decisions) <= 3, history
    assert {q.quarantine_count for q in decisions} == {1}, history


async def test_a_quarantine_reaches_processes_without_traffic_by_the_tail(
    place: LogPlace, tmp_path: Path, backends: tuple[ChaosServer, ChaosServer]
) -> None:
    """Only the first process gets requests: the others learn of the quarantine from the
    log alone (target: within 100 ms; bounded generously here, the machine is busy)."""
    a, b = backends
    config = write_config(tmp_path / "llm.yaml", place, {"a": a.url, "b": b.url})
    async with serving_group(config, tmp_path) as (one, two, three):
        a.set_fault(Fault(kind="http_error", status=500))
        async with one.client() as http:
            for _ in range(100):  # 3 failures quarantine it; 100 only bounds a broken test
                if await _status_is(one, "quarantined"):
                    break
                await chat(one, http)
        loop = asyncio.get_running_loop()
        seen = loop.time()
        await until(lambda: _status_is(two, "quarantined"), within=10)
        await until(lambda: _status_is(three, "quarantined"), within=10)
        lag = loop.time() - seen
        before = chats(a)
        for served in (two, three):
            async with served.client() as http:
                replies = [await chat(served, http) for _ in range(5)]
            assert {r.headers.get("x-llmrt-endpoint") for r in replies} == {"b"}
        assert chats(a) == before
    assert lag < 5.0, lag  # the tail polls every 20 ms; 5 s only bounds a broken test


async def _first_quarantine(place: LogPlace, a: ChaosServer) -> int:
    """How many chats ``a`` had received when the first quarantine of it was committed
    (seen by a subscriber: the log wakes it, so the count is taken at once)."""
    async with place.reader() as log:
        async for stored in log.subscribe(types={"DeploymentQuarantined"}):
            event = stored.event
            if isinstance(event, DeploymentQuarantined) and event.deployment == BAD:
                return chats(a)
    raise AssertionError("the subscription ended")


async def _health_history(place: LogPlace) -> str:
    """The bad deployment's health events, one a line (for a failing assertion)."""
    stream = f"health/{BAD}"
    return "\n".join(
        f"{e.position} {type(e.event).__name__} {str(e.event)[:100]}"
        for e in await read_log(place)
        if e.stream == stream
    )


async def _status_is(served: Served, status: str) -> bool:
    return await statuses(served, BAD) == status


def _more(load: Load, count: int) -> bool:
    return len(load.statuses) >= count


async def test_kill_9_loses_nothing_acknowledged_and_a_restart_catches_up(
    place: LogPlace, tmp_path: Path, backends: tuple[ChaosServer, ChaosServer]
) -> None:
    urls = {"a": backends[0].url, "b": backends[1].url}
    config = write_config(
        tmp_path / "llm.yaml", place, urls, daily_requests=1_000_000, acknowledge="after_commit"
    )
    async with serving_group(config, tmp_path) as group:
        one, two, three = group
        load = Load(group)
        await eventually(lambda: len(three.answered) >= 10 and _more(load, 30), within=60)
        await three.kill()
        survivors = len(one.answered) + len(two.answered)
        await eventually(lambda: len(one.answered) + len(two.answered) >= survivors + 30, within=60)
        await load.stop()
        assert three.process.returncode == -9
        async with _restarted(config, tmp_path) as again:
            logged = {
                e.event.request_id
                for e in await read_log(place, "RequestSucceeded")
                if isinstance(e.event, RequestSucceeded)
            }
            acknowledged = set(one.answered + two.answered + three.answered)
            assert acknowledged <= logged, f"lost: {sorted(acknowledged - logged)[:5]}"
            # The restarted one replayed the log: the same usage and health as the others.
            # Usage counts every logged success, and the reservations the killed one held:
            # the restarted one settled them at their estimate (they may have run).
            seen: list[float] = []

            async def agreed() -> bool:
                seen[:] = [await quota_used(s) for s in (one, two, again)]
                return len(set(seen)) == 1 and len(logged) <= seen[0] <= len(logged) + WORKERS

            async def used() -> str:
                return f"quota used {seen}, {len(logged)} succeeded, {chats(*backends)} chats"

            await until(agreed, explain=used)
            views = [await _health(s) for s in (one, two, again)]
            assert views[0] == views[1] == views[2]
    # A limit far above the load never refuses (the others' reservations overtaking
    # this one's is progress, not a reason to give up).
    assert set(load.statuses) == {200}, (Counter(load.statuses), load.errors[:3])


@contextlib.asynccontextmanager
async def _restarted(config: Path, directory: Path) -> AsyncIterator[Served]:
    async with serving_group(config, directory, ("three-again",)) as (again,):
        yield again


async def _health(served: Served) -> dict[str, str]:
    return {d: await statuses(served, d) for d in ("llama3@a", "llama3@b")}
