"""Runs the ``EventLog`` contract against every implementation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from events._codec import EventRegistry
from tests.events.contract import (
    Backend,
    EventLogContract,
    FakeClock,
    Log,
    backend_params,
    new_registry,
)
from tests.events.contract_writers import (
    CompactionContract,
    MultiWriterContract,
    peer,
    test_a_negative_limit_is_refused_by_every_log,
)


@pytest.fixture(params=[*backend_params(), "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    dsn = request.getfixturevalue("postgres_dsn") if request.param == "postgres" else None
    return Backend(request.param, tmp_path, dsn)


@pytest.fixture
def registry() -> EventRegistry:
    return new_registry()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def log(backend: Backend, registry: EventRegistry, clock: FakeClock) -> AsyncIterator[Log]:
    opened = await backend.open(registry, clock)
    try:
        yield opened
    finally:
        await opened.close()


class TestEventLogContract(EventLogContract):
    """Every contract test, once per backend."""


class TestMultiWriterContract(MultiWriterContract):
    """Two log objects on one storage, once per backend."""


class TestCompactionContract(CompactionContract):
    """``compact`` and ``bounds``, once per backend."""


__all__ = ["peer", "test_a_negative_limit_is_refused_by_every_log"]  # for pytest to find
