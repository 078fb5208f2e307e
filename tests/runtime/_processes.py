"""Runtimes in processes of their own, on one shared log: ``python -m runtime.serve``.

The acceptance test of "many runtimes, one log" (``test_many_processes.py``) starts three
real servers on 127.0.0.1 over one SQLite file or one PostgreSQL database, drives them
over HTTP, kills one with SIGKILL and reads the log back. This module holds the pieces:
the config file, a started server (``Served``), a group of them that is always stopped
(``serving_group``), reading the shared log, and ``until`` (``eventually`` for checks that
need I/O: an HTTP call, a read of the log).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from events import EventLog, PostgresEventLog, SqliteEventLog, StoredEvent
from tests.runtime.serve._support import AUTH, KEY, PATIENT_HTTP, counts

__all__ = [
    "CHAT_BODY",
    "CHAT_ROUTE",
    "LogPlace",
    "Served",
    "quota_used",
    "read_log",
    "serving_group",
    "statuses",
    "until",
    "write_config",
]

CHAT_ROUTE = "/v1/chat/completions"
CHAT_BODY = {"model": "llama3", "messages": [{"role": "user", "content": "hello there"}]}
"""An OpenAI chat body for model llama3 (two deployments: a and b; the backends are
asked on their Ollama ``/api/chat``)."""

_START_S = 120.0
"""How long a server may take to say it listens (imports on a busy 2-core machine)."""


@dataclass(frozen=True)
class LogPlace:
    """The shared log: a SQLite file or a PostgreSQL database URL."""

    kind: str
    """``sqlite`` or ``postgres``."""
    where: str
    """The file path or the ``postgresql://`` URL."""

    def yaml(self) -> str:
        """The config's ``event_log`` section body (indented two spaces)."""
        key = "path" if self.kind == "sqlite" else "url"
        return f"  {key}: {self.where}\n"

    @contextlib.asynccontextmanager
    async def reader(self) -> AsyncIterator[EventLog]:
        """The log opened read-only, for the block."""
        log: EventLog
        if self.kind == "sqlite":
            log = await SqliteEventLog.open_readonly(self.where)
        else:
            log = await PostgresEventLog.open_readonly(self.where)
        try:
            yield log
        finally:
            await log.close()


def write_config(
    path: Path,
    place: LogPlace,
    backends: Mapping[str, str],
    *,
    daily_requests: int | None = None,
    failure_threshold: int = 3,
    acknowledge: str = "background",
) -> Path:
    """A runtime config: llama3 on every backend (name -> URL), on the shared log.

    Health checks are off (they would add requests the tests count); a quarantine lasts
    10 minutes; retries go to the other deployment at once, never held back by the
    retry budget (a failure of the bad backend falls back instead of failing).
    """
    endpoints = "".join(
        f"  - name: {name}\n    url: {url}\n    max_concurrency: 64\n"
        for name, url in backends.items()
    )
    quota = f"quota:\n  daily_requests: {daily_requests}\n" if daily_requests else ""
    path.write_text(
        f"event_log:\n{place.yaml()}  acknowledge: {acknowledge}\n"
        f"endpoints:\n{endpoints}"
        f"models:\n  - name: llama3\n    deployments: [{', '.join(backends)}]\n"
        "health:\n  check_interval_seconds: 0\n"
        f"  failure_threshold: {failure_threshold}\n  quarantine_seconds: 600\n"
        "  min_calls: 10\n  liveness_check_seconds: 0\n"
        "retry:\n  max_attempts: 2\n  backoff_base: 0\n  backoff_cap: 0\n"
        "  retry_budget_ratio: 1.0\n  retry_budget_max_tokens: 1000000\n"
        f"{quota}",
        encoding="utf-8",
    )
    return path


@dataclass
class Served:
    """One ``python -m runtime.serve`` process, listening at ``url``."""

    name: str
    process: asyncio.subprocess.Process
    url: str
    errors: Path
    """Its stderr (the log lines), for a failing test's message."""
    answered: list[str] = field(default_factory=list)
    """The ``x-request-id`` of every chat it answered with 200 (filled by the tests)."""

    def client(self) -> httpx.AsyncClient:
        """A client with the bearer key (the admin routes need it too)."""
        return httpx.AsyncClient(base_url=self.url, headers=AUTH, timeout=PATIENT_HTTP)

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    async def kill(self) -> None:
        """SIGKILL: no shutdown, no final commit, no snapshot."""
        await asyncio.wait_for(_killed(self.process), 60)

    async def stop(self) -> int:
        """SIGTERM and wait for the clean exit; its status."""
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), 60)
        except TimeoutError:
            await _killed(self.process)
            return await self.process.wait()

    def tail(self, lines: int = 30) -> str:
        """The last lines it logged."""
        with contextlib.suppress(OSError):
            return "\n".join(self.errors.read_text(errors="replace").splitlines()[-lines:])
        return ""


async def start_served(name: str, config: Path, directory: Path) -> Served:
    """Start one server on a free port of 127.0.0.1; return once it listens."""
    errors = directory / f"{name}.stderr"
    environ = {**os.environ, "LLMRT_API_KEY": KEY}
    with errors.open("ab") as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "runtime.serve", "--config", str(config),
            "--host", "127.0.0.1", "--port", "0", "--log-level", "warning",
            stdout=asyncio.subprocess.PIPE, stderr=sink, env=environ,
        )  # fmt: skip
    assert process.stdout is not None
    try:
        line = (await asyncio.wait_for(process.stdout.readline(), _START_S)).decode()
    except BaseException:
        await _killed(process)
        raise
    if not line.startswith("serving on http://127.0.0.1:"):
        await _killed(process)
        raise AssertionError(f"{name} did not start: {line!r}\n{errors.read_text()}")
    url = line.removeprefix("serving on ").strip()
    return Served(name=name, process=process, url=url, errors=errors)


async def _killed(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):  # it may have exited already
        process.send_signal(signal.SIGKILL)
    await process.wait()


@contextlib.asynccontextmanager
async def serving_group(
    config: Path, directory: Path, names: tuple[str, ...] = ("one", "two", "three")
) -> AsyncIterator[list[Served]]:
    """Servers started together on one config; every one stopped (or killed) at the end,
    those that started too when another could not."""
    outcomes = await asyncio.gather(
        *(start_served(n, config, directory) for n in names), return_exceptions=True
    )
    started = [o for o in outcomes if isinstance(o, Served)]
    try:
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        yield started
    finally:
        await asyncio.gather(*(s.stop() for s in started if s.alive))


async def until(
    check: Callable[[], Awaitable[bool]],
    within: float = 60.0,
    explain: Callable[[], Awaitable[str]] | None = None,
) -> None:
    """``eventually`` for a check that does I/O: wait until it holds, fail after ``within``
    (with what ``explain`` says, if given)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():
        if loop.time() > deadline:
            detail = await explain() if explain is not None else ""
            raise AssertionError(f"condition not met in time {detail}".strip())
        await asyncio.sleep(0.01)


async def statuses(served: Served, deployment: str) -> str:
    """The status ``/health`` shows for ``deployment``."""
    async with served.client() as http:
        body: dict[str, Any] = (await http.get("/health")).json()
    for model in body["models"].values():
        for entry in model["deployments"]:
            if entry["deployment"] == deployment:
                return str(entry["status"])
    raise AssertionError(f"{deployment} not in {served.name}'s /health: {body}")


async def quota_used(served: Served) -> float:
    """``llmrt_quota_used`` of the global daily request limit, from ``/metrics``."""
    async with served.client() as http:
        text = (await http.get("/metrics")).text
    samples = counts(text, "llmrt_quota_used")
    return sum(samples.values())


async def read_log(place: LogPlace, *types: str) -> list[StoredEvent]:
    """Every committed event of the named types (all if none)."""
    async with place.reader() as log:
        return [e async for e in log.read(types=set(types) or None)]
