"""Fixtures shared by the inspect tests: the demo log (written once per module) and its events."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from events import SqliteEventLog, StoredEvent
from tests.runtime.inspect._logs import keep_logging, shared_demo_log

__all__ = ["demo", "everything", "keep_logging"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The shared demo log's path and its request ids by name (see ``_logs``)."""
    return shared_demo_log(tmp_path_factory)


@pytest.fixture(scope="module")
def everything(demo: tuple[Path, dict[str, str]]) -> list[StoredEvent]:
    """Every event of the demo log, in order."""

    async def read() -> list[StoredEvent]:
        async with await SqliteEventLog.open_readonly(demo[0]) as log:
            return [e async for e in log.read()]

    return asyncio.run(read())
