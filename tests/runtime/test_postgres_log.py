"""``event_log: {url: postgresql://...}``: the config check, a runtime on PostgreSQL, and
``runtime.inspect`` reading that log (a real server: ``tests._postgres``)."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from events import HEALTH_STREAM_PREFIX, HealthReset, PostgresEventLog, RequestSucceeded
from runtime import ConfigError, EventLogConfig, Runtime
from runtime._config_load import config_from_raw
from runtime.admin._cli import main as admin_main
from runtime.inspect._cli import main as inspect_main
from runtime.testing import ChaosServer
from tests._postgres import PASSWORD
from tests.events.contract import collect
from tests.runtime._support import MESSAGES, config

Servers = tuple[ChaosServer, ChaosServer]


def _raw(**event_log: Any) -> dict[str, Any]:
    return {
        "event_log": event_log,
        "endpoints": [{"name": "a", "url": "http://127.0.0.1:11434"}],
        "models": [{"name": "llama3", "deployments": ["a"]}],
    }


def _problems(**event_log: Any) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        config_from_raw(_raw(**event_log))
    return [(p.path, p.message) for p in caught.value.problems]


def test_a_postgres_url_is_accepted() -> None:
    loaded = config_from_raw(_raw(url="postgresql://rt:pw@db.internal:5432/llm"))
    assert loaded.event_log.url == "postgresql://rt:pw@db.internal:5432/llm"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mysql://rt:hunter2hunter2@db/llm", "scheme 'mysql'"),
        ("db.internal/llm", "no scheme"),
        ("postgresql://rt:hunter2hunter2@/llm", "names no host"),
        ("postgresql://rt:hunter2hunter2@db.internal:5432", "names no database"),
        ("postgresql://rt:hunter2hunter2@db.internal:99999/llm", "not a valid URL"),
    ],
)
def test_a_bad_url_is_named_and_its_password_never_shown(url: str, says: str) -> None:
    problems = _problems(url=url)
    assert [path for path, _ in problems] == ["event_log.url"]
    assert says in problems[0][1]
    assert "hunter2hunter2" not in problems[0][1]


def test_url_and_path_together_are_refused_naming_both() -> None:
    problems = _problems(url="postgresql://rt:pw@db/llm", path="/tmp/x.sqlite3")
    assert [path for path, _ in problems] == ["event_log.url"]
    assert "event_log.url and event_log.path" in problems[0][1]


async def test_a_runtime_on_postgres_and_inspect_reading_it(
    tmp_path: Path, servers: Servers, postgres_dsn: str
) -> None:
    a, b = servers
    base = config(tmp_path, {"a": a, "b": b}, {"llama3": ("a", "b")})
    on_pg = msgspec.structs.replace(base, event_log=EventLogConfig(url=postgres_dsn))
    async with Runtime(on_pg) as rt:
        reply = await rt.chat(MESSAGES, model="llama3")
    assert not (tmp_path / "events.sqlite3").exists()  # nothing went to SQLite
    log = await PostgresEventLog.open_readonly(postgres_dsn)
    try:
        stored = await collect(log.read(stream=f"request/{reply.request_id}"))
    finally:
        await log.close()
    assert any(isinstance(s.event, RequestSucceeded) for s in stored)

    out, err = io.StringIO(), io.StringIO()
    argv = [postgres_dsn, "--json", "tail", "-n", "100"]
    code = await asyncio.to_thread(inspect_main, argv, stdout=out, stderr=err)
    assert code == 0, err.getvalue()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert reply.request_id in out.getvalue() and lines
    code = await asyncio.to_thread(inspect_main, [postgres_dsn, "range"], stdout=out, stderr=err)
    assert code == 0, err.getvalue()
    verify_err = io.StringIO()
    code = await asyncio.to_thread(
        inspect_main, [postgres_dsn, "verify"], stdout=io.StringIO(), stderr=verify_err
    )
    assert code == 2 and "PostgreSQL log" in verify_err.getvalue()
    assert PASSWORD not in err.getvalue() + verify_err.getvalue()


async def test_admin_compact_takes_a_postgres_url(postgres_dsn: str) -> None:
    log = await PostgresEventLog.open(postgres_dsn)
    try:
        for _ in range(3):
            await log.append(
                HEALTH_STREAM_PREFIX + "llama3@a", [HealthReset(deployment="llama3@a", at=1.0)]
            )
        last = await log.last_position()
    finally:
        await log.close()
    out, err = io.StringIO(), io.StringIO()
    argv = ["compact", postgres_dsn, "--through", str(last)]
    code = await asyncio.to_thread(admin_main, argv, stdout=out, stderr=err, environ={})
    assert (code, err.getvalue()) == (0, "")
    assert f"deleted {last} events" in out.getvalue() and PASSWORD not in out.getvalue()
    log = await PostgresEventLog.open_readonly(postgres_dsn)
    try:
        bounds = await log.bounds()
    finally:
        await log.close()
    assert (bounds.compacted_through, bounds.first_position) == (last, last + 1)
