"""A read of several event types merges each type's index walk: same rows as a full read
filtered in Python, for any mix of types, bounds, times and page sizes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events import (
    DeploymentDegraded,
    DeploymentQuarantined,
    DeploymentRecovered,
    Event,
    HealthOutcomeRecorded,
    SqliteEventLog,
    StoredEvent,
    _read_filter,
)

_KINDS: list[type[Event]] = [
    HealthOutcomeRecorded,
    DeploymentDegraded,
    DeploymentRecovered,
    DeploymentQuarantined,
]


def _event(kind: type[Event], n: int) -> Event:
    if kind is HealthOutcomeRecorded:
        return HealthOutcomeRecorded(deployment="m@e", at=float(n), ok=True)
    if kind is DeploymentQuarantined:
        return DeploymentQuarantined(
            deployment="m@e", at=float(n), until=n + 1.0, quarantine_count=1
        )
    return kind(deployment="m@e", at=float(n))  # type: ignore[call-arg]


@pytest.fixture(scope="module")
def log_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("types") / "log.sqlite3"

    async def write() -> None:
        async with await SqliteEventLog.open(path) as log:
            for n in range(300):  # a lopsided mix: mostly outcomes, a few changes
                kind = _KINDS[0] if n % 5 else _KINDS[1 + (n // 5) % 3]
                await log.append(f"health/{n % 7}", [_event(kind, n)])

    asyncio.run(write())
    return path


async def _read(path: Path, **options: object) -> list[StoredEvent]:
    log = await SqliteEventLog.open_readonly(path)
    try:
        return [e async for e in log.read(**options)]  # type: ignore[arg-type]
    finally:
        await log.close()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    kinds=st.sets(st.sampled_from([k.__name__ for k in _KINDS]), min_size=2),
    start=st.integers(1, 320),
    to=st.none() | st.integers(1, 320),
    limit=st.none() | st.integers(0, 250),
    page=st.sampled_from([1, 3, 7, 1000]),
)
def test_several_types_read_like_a_filtered_full_read(
    log_path: Path,
    kinds: set[str],
    start: int,
    to: int | None,
    limit: int | None,
    page: int,
) -> None:
    everything = asyncio.run(_read(log_path))
    times = sorted(e.timestamp for e in everything)
    since, until = times[40], times[250]
    expected = [
        e
        for e in everything
        if e.type in kinds
        and e.position >= start
        and (to is None or e.position <= to)
        and since <= e.timestamp <= until
    ][:limit]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_read_filter, "PAGE_SIZE", page)
        got = asyncio.run(
            _read(
                log_path,
                from_position=start,
                to_position=to,
                types=kinds,
                since=since,
                until=until,
                limit=limit,
            )
        )
    assert [e.position for e in got] == [e.position for e in expected]
