"""``event_log.acknowledge``: with ``after_commit`` an answered request is in the log,
even after ``kill -9``; with ``background`` what a crash loses is bounded."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from events import MemoryEventLog, RequestSucceeded, SqliteEventLog
from runtime import EventLogConfig, Runtime, RuntimeConfig
from runtime.testing import ChaosServer
from tests.runtime._support import MESSAGES, config

ROOT = Path(__file__).resolve().parents[2]
KILLS = 24
BACKGROUND_WINDOW = 5.0
"""Seconds before the kill within which every answered-but-lost request must lie: the
linger (0.05 s) plus the commit in progress, with room for a busy machine."""


def acknowledging(cfg: RuntimeConfig, mode: str) -> RuntimeConfig:
    section = msgspec.structs.replace(cfg.event_log, acknowledge=mode)
    return msgspec.structs.replace(cfg, event_log=section)


def test_the_default_follows_durability() -> None:
    assert EventLogConfig(durability="full").after_commit
    assert not EventLogConfig(durability="normal").after_commit
    assert EventLogConfig(durability="normal", acknowledge="after_commit").after_commit
    assert not EventLogConfig(durability="full", acknowledge="background").after_commit


async def succeeded(log: MemoryEventLog) -> set[str]:
    return {
        stored.event.request_id
        async for stored in log.read(types=["RequestSucceeded"])
        if isinstance(stored.event, RequestSucceeded)
    }


@pytest.mark.parametrize("mode", ["after_commit", "background"])
async def test_a_chat_returns_after_its_commit_only_when_asked(
    tmp_path: Path, servers: tuple[ChaosServer, ChaosServer], mode: str
) -> None:
    log = MemoryEventLog(linger=3600.0)  # routine events would wait an hour
    cfg = acknowledging(config(tmp_path, {"a": servers[0]}, {"llama3": ("a",)}), mode)
    async with Runtime(cfg, event_log=log) as rt:
        reply = await rt.chat(MESSAGES, model="llama3")
        in_log = reply.request_id in await succeeded(log)
        chunks = [chunk async for chunk in rt.stream(MESSAGES, model="llama3")]
        streamed = chunks[-1].request_id in await succeeded(log)
    await log.close()
    assert (in_log, streamed) == ((True, True) if mode == "after_commit" else (False, False))


def run_and_kill(path: Path, mode: str, answers: int) -> tuple[dict[str, float], float]:
    """Run the victim until it has answered ``answers`` chats, SIGKILL it; return every
    answer it printed (request id -> when) and the moment of the kill."""
    victim = subprocess.Popen(
        [sys.executable, "-m", "tests.runtime._ack_writer", str(path), mode],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert victim.stdout is not None
    answered: dict[str, float] = {}
    killed_at = 0.0
    try:
        for line in victim.stdout:
            request_id, at = line.split()
            answered[request_id] = float(at)
            if len(answered) >= answers:
                victim.send_signal(signal.SIGKILL)
                killed_at = max(answered.values())
                break
        for line in victim.stdout:  # what it printed before it died
            request_id, at = line.split()
            answered[request_id] = float(at)
    finally:
        victim.kill()
        victim.wait()
    assert answered, "the victim answered nothing"
    return answered, killed_at


async def logged(path: Path) -> set[str]:
    async with await SqliteEventLog.open_readonly(path) as log:
        return {
            stored.event.request_id
            async for stored in log.read(types=["RequestSucceeded"])
            if isinstance(stored.event, RequestSucceeded)
        }


@pytest.mark.slow
def test_after_commit_loses_no_answered_request_over_many_kills(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    draw = random.Random(12)
    lost: dict[int, set[str]] = {}
    answered_total = 0
    for kill in range(KILLS):
        answered, _ = run_and_kill(path, "after_commit", draw.randint(1, 120))
        answered_total += len(answered)
        missing = set(answered) - asyncio.run(logged(path))
        if missing:
            lost[kill] = missing
    assert answered_total >= KILLS
    assert lost == {}, f"answered, then lost after kill -9: {lost}"


@pytest.mark.slow
def test_background_loses_at_most_the_last_moments(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    draw = random.Random(21)
    for _ in range(6):
        answered, killed_at = run_and_kill(path, "background", draw.randint(50, 300))
        missing = set(answered) - asyncio.run(logged(path))
        late = {rid: killed_at - answered[rid] for rid in missing}
        assert all(age <= BACKGROUND_WINDOW for age in late.values()), late
