"""What only the PostgreSQL log has: its errors, its schema, LISTEN/NOTIFY, many writers.

The contract suites (``test_contract.py``, ``test_pipeline_contract.py``) run every
``EventLog`` promise on it; these tests cover the rest, on a real server.
"""

from __future__ import annotations

import asyncio
import socket
import sys

import asyncpg
import pytest

from events import (
    EventLogError,
    InvalidLogFile,
    LogFromNewerVersion,
    PostgresEventLog,
    StorageUnavailable,
)
from events._pipeline import CommittedBatch
from events._postgres_schema import mask_url
from tests._postgres import PASSWORD
from tests._wait import eventually
from tests.events.contract import collect, new_registry, pings


def test_the_password_is_masked() -> None:
    assert mask_url("postgresql://u:s3cret@db.example:5433/logs") == (
        "postgresql://u:***@db.example:5433/logs"
    )
    assert mask_url("postgresql://db/logs") == "postgresql://db/logs"


async def test_an_unreachable_server_says_where_and_what_to_check() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"postgresql://llmrt:{PASSWORD}@127.0.0.1:{port}/nowhere"
    with pytest.raises(StorageUnavailable) as caught:
        await PostgresEventLog.open(url)
    message = str(caught.value)
    assert f"postgresql://llmrt:***@127.0.0.1:{port}/nowhere" in message
    assert "listens on that host and port" in message
    assert PASSWORD not in message


async def test_a_wrong_password_is_named_without_showing_it(postgres_dsn: str) -> None:
    wrong = postgres_dsn.replace(PASSWORD, "not-the-password-123")
    with pytest.raises(StorageUnavailable, match="refused the login") as caught:
        await PostgresEventLog.open(wrong)
    assert "not-the-password-123" not in str(caught.value)


async def test_a_missing_driver_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, postgres_dsn: str
) -> None:
    monkeypatch.setitem(sys.modules, "asyncpg", None)  # import asyncpg -> ImportError
    with pytest.raises(EventLogError, match=r"pip install 'llm-reliability-runtime\[postgres\]'"):
        await PostgresEventLog.open(postgres_dsn)


async def test_a_newer_schema_is_refused(postgres_dsn: str) -> None:
    log = await PostgresEventLog.open(postgres_dsn, registry=new_registry())
    await log.close()
    conn = await asyncpg.connect(postgres_dsn)
    await conn.execute("UPDATE llmrt_meta SET value = '99' WHERE key = 'schema_version'")
    await conn.close()
    with pytest.raises(LogFromNewerVersion, match="schema version 99"):
        await PostgresEventLog.open(postgres_dsn)


async def test_read_only_opens_need_a_log_and_refuse_writes(postgres_dsn: str) -> None:
    with pytest.raises(InvalidLogFile, match="holds no event log"):
        await PostgresEventLog.open_readonly(postgres_dsn)
    writer = await PostgresEventLog.open(postgres_dsn, registry=new_registry())
    await writer.append("s", pings(1, 2))
    viewer = await PostgresEventLog.open_readonly(postgres_dsn, registry=new_registry())
    try:
        assert [s.position for s in await collect(viewer.read())] == [1, 2]
        with pytest.raises(EventLogError, match="read-only"):
            await viewer.append("s", pings(3))
    finally:
        await viewer.close()
        await writer.close()


async def test_a_notification_wakes_the_tail_without_polling(postgres_dsn: str) -> None:
    # An hour between polls: only the NOTIFY of the other writer's commit can wake it.
    log = await PostgresEventLog.open(postgres_dsn, registry=new_registry(), poll_interval=3600)
    other = await PostgresEventLog.open(postgres_dsn, registry=new_registry())
    try:
        batches: list[CommittedBatch] = []
        log.on_commit(batches.append)
        await log.catch_up()  # the initial poll is done: from here only NOTIFY wakes it
        await other.append("s", pings(1, 2))
        await eventually(lambda: [s.position for b in batches for s in b.events] == [1, 2])
        assert all(b.foreign for b in batches)
    finally:
        await other.close()
        await log.close()


async def test_three_writers_stay_gap_free_and_every_hook_sees_everything(
    postgres_dsn: str,
) -> None:
    logs = [
        await PostgresEventLog.open(postgres_dsn, registry=new_registry(), linger=0.001)
        for _ in range(3)
    ]
    seen: list[list[int]] = [[] for _ in logs]
    for log, positions in zip(logs, seen, strict=True):
        log.on_commit(lambda batch, p=positions: p.extend(s.position for s in batch.events))

    async def write(log: PostgresEventLog, n: int) -> None:
        for i in range(40):
            if i % 2:
                await log.append(f"w{n}", pings(i, i))
            else:
                log.append_nowait("shared", pings(i))
        await log.flush()

    try:
        await asyncio.gather(*(write(log, n) for n, log in enumerate(logs)))
        total = await logs[0].last_position()
        assert total == 3 * (20 * 2 + 20)
        stored = await collect(logs[0].read())
        assert [s.position for s in stored] == list(range(1, total + 1))
        shared = [s.stream_version for s in stored if s.stream == "shared"]
        assert shared == list(range(1, 61))
        for log in logs:
            assert await log.catch_up() == total
        assert seen == [list(range(1, total + 1))] * 3
    finally:
        for log in logs:
            await log.close()


async def test_four_logs_opened_at_once_on_a_new_database_all_open(postgres_dsn: str) -> None:
    # Each open finds no tables and creates them: the schema lock makes one create them
    # and the others find them (no "relation llmrt_meta already exists").
    opened = await asyncio.gather(
        *(PostgresEventLog.open(postgres_dsn, registry=new_registry()) for _ in range(4)),
        return_exceptions=True,
    )
    logs = [log for log in opened if isinstance(log, PostgresEventLog)]
    try:
        assert [type(o).__name__ for o in opened] == ["PostgresEventLog"] * 4, opened
        for n, log in enumerate(logs):
            await log.append("s", pings(n))
        assert [s.position for s in await collect(logs[0].read())] == [1, 2, 3, 4]
        conn = await asyncpg.connect(postgres_dsn)
        try:
            meta = await conn.fetch("SELECT key FROM llmrt_meta ORDER BY key")
        finally:
            await conn.close()
        assert [row[0] for row in meta] == ["format", "schema_version"]
    finally:
        for log in logs:
            await log.close()
