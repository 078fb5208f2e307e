"""The shared-log benchmark runs (tiny sizes): its workloads work on both logs."""

from __future__ import annotations

from pathlib import Path

from events import PostgresEventLog, SqliteEventLog
from tests.bench.shared_log import REGISTRY, measure


async def test_the_benchmark_measures_both_logs(tmp_path: Path, postgres_dsn: str) -> None:
    path = tmp_path / "events.sqlite3"
    sqlite = await measure(lambda: SqliteEventLog.open(path, registry=REGISTRY), 64)
    postgres = await measure(lambda: PostgresEventLog.open(postgres_dsn, registry=REGISTRY), 64)
    assert sqlite.keys() == postgres.keys()
    assert all(value > 0 for value in [*sqlite.values(), *postgres.values()])
