"""Helpers for the Runtime tests: configs over chaos servers, reading the log back."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from events import Event, SqliteEventLog, StoredEvent
from runtime import (
    EndpointConfig,
    EventLogConfig,
    HealthConfig,
    ModelConfig,
    RetryConfig,
    RoleConfig,
    RuntimeConfig,
    Timeouts,
)
from runtime.testing import ChaosServer
from tests._wait import eventually

__all__ = ["MESSAGES", "PATIENT", "SHORT", "config", "eventually", "read_events"]

MESSAGES = [{"role": "user", "content": "hello there"}]
PATIENT = Timeouts(connect=10.0, first_byte=30.0, idle=30.0, total=60.0)
"""The default deadlines: they never fire on a busy machine, so no test fails because
the scheduler was slow. A test whose subject is a timeout sets ``SHORT`` explicitly, and
only on the endpoint it times out (``config(..., timeouts={"a": SHORT})``)."""

SHORT = Timeouts(connect=10.0, first_byte=0.3, idle=0.3, total=30.0)
"""Short first-byte and idle deadlines, for the tests that provoke exactly those timeouts
(with a fault that never answers in time: ``hang``, or delays far beyond them)."""


def config(
    tmp_path: Path,
    servers: Mapping[str, ChaosServer],
    models: Mapping[str, tuple[str, ...]],
    *,
    roles: Mapping[str, tuple[str, ...]] | None = None,
    health: HealthConfig | None = None,
    retry: RetryConfig | None = None,
    log_name: str = "events.sqlite3",
    timeouts: Mapping[str, Timeouts] | None = None,
) -> RuntimeConfig:
    """A config: one endpoint per server, the given models and role chains.

    Every endpoint has the ``PATIENT`` deadlines unless ``timeouts`` names it.

    Health checks are off unless ``health`` turns them on (they would add requests the
    tests count), backoff is 0 unless ``retry`` says otherwise (a ManualClock would
    otherwise park every retry of the same deployment).
    """
    return RuntimeConfig(
        endpoints=tuple(
            EndpointConfig(
                name=name,
                url=server.url,
                timeouts=(timeouts or {}).get(name, PATIENT),
                max_concurrency=64,
            )
            for name, server in servers.items()
        ),
        models=tuple(ModelConfig(name=m, deployments=d) for m, d in models.items()),
        roles={name: RoleConfig(models=chain) for name, chain in (roles or {}).items()},
        event_log=EventLogConfig(path=str(tmp_path / log_name)),
        health=health or HealthConfig(check_interval_seconds=0),
        retry=retry or RetryConfig(backoff_base=0.0, backoff_cap=0.0),
    )


async def read_events(path: Path, *types: type[Event]) -> list[StoredEvent]:
    """Every committed event of ``types`` (all if none), from a closed or open log."""
    names = {t.__name__ for t in types} or None
    async with await SqliteEventLog.open_readonly(path) as log:
        return [e async for e in log.read(types=names)]
