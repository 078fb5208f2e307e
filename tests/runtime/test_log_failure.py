"""While the event log cannot write: ``event_log.on_log_failure`` (refuse or serve), the
recovery by itself, and a shutdown that does not hang on a stuck log."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import msgspec
import pytest

from events import EventLogRecovered, SqliteEventLog
from runtime import EventLogFailing, LLMRuntimeError, Runtime, RuntimeConfig
from runtime.serve._views import health_view
from runtime.testing import ChaosServer
from tests._logs import capture_logs
from tests._wait import eventually
from tests.runtime._support import MESSAGES, config, read_events

Servers = tuple[ChaosServer, ChaosServer]


def with_log(cfg: RuntimeConfig, **options: str) -> RuntimeConfig:
    return msgspec.structs.replace(cfg, event_log=msgspec.structs.replace(cfg.event_log, **options))


def sqlite_log(rt: Runtime) -> SqliteEventLog:
    log = rt._running().log
    assert isinstance(log, SqliteEventLog)
    return log


def failing(rt: Runtime) -> bool:
    return rt.statistics().event_log_health.status == "failing"


def recovered(rt: Runtime) -> bool:
    """The log was failing and has recorded its ``EventLogRecovered``."""
    return rt.statistics().event_log_health.recoveries >= 1


FILL_REQUESTS = 500
"""Requests that surely outgrow a full log's last page (a request's rows are small)."""


async def fill_up(rt: Runtime) -> None:
    """Send requests (each committed) until the log, with no room to grow, fails."""
    for _ in range(FILL_REQUESTS):
        await rt.chat(MESSAGES, model="llama3")
        await rt.flush_events()
        if failing(rt):
            return


async def test_serve_keeps_answering_and_counts_what_went_unrecorded(
    tmp_path: Path, servers: Servers
) -> None:
    cfg = with_log(config(tmp_path, {"a": servers[0]}, {"llama3": ("a",)}), on_log_failure="serve")
    async with Runtime.from_config(cfg) as rt:
        await rt.chat(MESSAGES, model="llama3")
        await rt.flush_events()
        await sqlite_log(rt).set_max_page_count(1)  # SQLite never shrinks: the file is full
        with capture_logs() as logs:
            replies = [await rt.chat(MESSAGES, model="llama3") for _ in range(20)]
            await rt.flush_events()
        health = rt.health().event_log
        assert health is not None and health.status == "failing"
        assert health.last_error is not None and "StorageFull" in health.last_error
        assert health.unrecorded_requests >= 1
        assert health_view(rt.health())[0] == 200  # serving: the facade stays up
        await sqlite_log(rt).set_max_page_count(1_000_000)  # room again
        await rt.chat(MESSAGES, model="llama3")  # the recovery starts from a request
        await eventually(lambda: recovered(rt))
    assert len(replies) == 20
    assert any(entry["event"] == "eventlog.append_nowait.failed" for entry in logs)
    entries = [e.event for e in await read_events(Path(cfg.event_log.path), EventLogRecovered)]
    assert entries and isinstance(entries[0], EventLogRecovered)
    assert entries[0].unrecorded_requests == health.unrecorded_requests


async def test_refuse_refuses_until_the_log_writes_again(tmp_path: Path, servers: Servers) -> None:
    cfg = config(tmp_path, {"a": servers[0]}, {"llama3": ("a",)})  # refuse is the default
    async with Runtime.from_config(cfg) as rt:
        await rt.chat(MESSAGES, model="llama3")
        await rt.flush_events()
        await sqlite_log(rt).set_max_page_count(1)
        await fill_up(rt)  # requests admitted until the log fails: it had not failed yet
        assert failing(rt)
        with pytest.raises(EventLogFailing, match="on_log_failure: refuse") as refused:
            await rt.chat(MESSAGES, model="llama3")
        assert isinstance(refused.value, LLMRuntimeError)
        with pytest.raises(EventLogFailing):
            await anext(rt.stream(MESSAGES, model="llama3"))
        assert health_view(rt.health())[0] == 503
        calls = servers[0].requests_for(route="/api/chat")
        await sqlite_log(rt).set_max_page_count(1_000_000)
        await eventually(lambda: recovered(rt))  # the recovery task found room by itself
        assert (await rt.chat(MESSAGES, model="llama3")).content
    assert servers[0].requests_for(route="/api/chat") == calls + 1  # refused: never sent
    entries = [e.event for e in await read_events(Path(cfg.event_log.path), EventLogRecovered)]
    assert isinstance(entries[0], EventLogRecovered) and entries[0].refused_requests == 2


async def test_after_commit_does_not_hand_out_an_unrecorded_answer(
    tmp_path: Path, servers: Servers
) -> None:
    cfg = with_log(
        config(tmp_path, {"a": servers[0]}, {"llama3": ("a",)}), acknowledge="after_commit"
    )
    async with Runtime.from_config(cfg) as rt:
        await rt.chat(MESSAGES, model="llama3")
        await sqlite_log(rt).set_max_page_count(1)
        with pytest.raises(EventLogFailing, match="could not be committed"):
            for _ in range(FILL_REQUESTS):  # each answer handed out was committed
                await rt.chat(MESSAGES, model="llama3")


def lock(path: Path) -> sqlite3.Connection:
    """Another writer holding the database's write lock until it is rolled back."""
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    return holder


async def test_a_locked_log_is_waited_for_then_refused(tmp_path: Path, servers: Servers) -> None:
    cfg = config(tmp_path, {"a": servers[0]}, {"llama3": ("a",)})
    path = Path(cfg.event_log.path)
    async with Runtime.from_config(cfg) as rt:
        await rt.chat(MESSAGES, model="llama3")
        await rt.flush_events()
        holder = await asyncio.to_thread(lock, path)
        try:
            await rt.chat(MESSAGES, model="llama3")
            await rt.flush_events()  # the commit waited for the lock (5 s), then failed
            assert failing(rt)
            with pytest.raises(EventLogFailing, match=r"StorageUnavailable|locked"):
                await rt.chat(MESSAGES, model="llama3")
        finally:
            await asyncio.to_thread(holder.rollback)
            await asyncio.to_thread(holder.close)
        await eventually(lambda: recovered(rt))
        assert (await rt.chat(MESSAGES, model="llama3")).content


async def test_closing_does_not_hang_on_a_locked_log(tmp_path: Path, servers: Servers) -> None:
    cfg = with_log(config(tmp_path, {"a": servers[0]}, {"llama3": ("a",)}), on_log_failure="serve")
    path = Path(cfg.event_log.path)
    rt = Runtime.from_config(cfg)
    await rt.start()
    await rt.chat(MESSAGES, model="llama3")
    await rt.flush_events()
    holder = await asyncio.to_thread(lock, path)
    try:
        for _ in range(5):
            await rt.chat(MESSAGES, model="llama3")  # their events queue behind the lock
        started = time.monotonic()
        await rt.aclose()
        took = time.monotonic() - started
    finally:
        await asyncio.to_thread(holder.rollback)
        await asyncio.to_thread(holder.close)
    # The bound is what is under test: a SIGTERM used to take 40-89 s here.
    assert took < 30.0, took
