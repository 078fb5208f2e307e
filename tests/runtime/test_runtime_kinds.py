"""Client-chosen ``kind`` values through the Runtime: bounded windows, folded before they
are recorded, the same after a restart, configured kinds never folded."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec

from actors.performance import MAX_OTHER_KINDS, OTHER_KIND
from events import RequestStarted
from runtime import Runtime, RuntimeConfig
from runtime.testing import ChaosServer
from tests.runtime._support import MESSAGES, config, read_events

Servers = tuple[ChaosServer, ChaosServer]
HOSTILE = 3 * MAX_OTHER_KINDS


def coder_config(tmp_path: Path, servers: Servers) -> RuntimeConfig:
    """llama3 on a; role ``gen`` (kind: its name) and role ``coder`` with kind ``code``."""
    a, _ = servers
    cfg = config(tmp_path, {"a": a}, {"llama3": ("a",)}, roles={"gen": ("llama3",)})
    roles = dict(cfg.roles)
    roles["coder"] = msgspec.structs.replace(roles["gen"], kind="code")
    return msgspec.structs.replace(cfg, roles=roles)


async def ask(rt: Runtime, kinds: list[str]) -> None:
    await asyncio.gather(*(rt.chat(MESSAGES, model="llama3", kind=k) for k in kinds))


async def test_client_kinds_are_bounded_and_configured_ones_kept(
    tmp_path: Path, servers: Servers
) -> None:
    cfg = coder_config(tmp_path, servers)
    hostile = [f"k{i}" for i in range(HOSTILE)]
    async with Runtime.from_config(cfg) as rt:
        await ask(rt, hostile[: MAX_OTHER_KINDS // 2])  # admitted: there is room
        await ask(rt, hostile[MAX_OTHER_KINDS // 2 :])
        await rt.chat(MESSAGES, role="coder")
        await rt.chat(MESSAGES, role="gen")
        await rt.chat(MESSAGES, model="llama3", kind="code")
        before = rt.performance()
    admitted = set(before.requests) - {"code", "gen", OTHER_KIND}
    assert len(admitted) == MAX_OTHER_KINDS and admitted < set(hostile)
    assert set(hostile[: MAX_OTHER_KINDS // 2]) <= admitted
    assert before.requests["code"] == 2 and before.requests["gen"] == 1
    assert before.requests[OTHER_KIND] == HOSTILE - MAX_OTHER_KINDS
    recorded = [e.event for e in await read_events(Path(cfg.event_log.path), RequestStarted)]
    assert isinstance(recorded[0], RequestStarted)
    # the fold happens before recording: the log holds the folded kinds only
    assert {e.kind for e in recorded if isinstance(e, RequestStarted)} == set(before.requests)

    async with Runtime.from_config(cfg) as rt:
        replayed = rt.performance()
        await ask(rt, [f"after-restart-{i}" for i in range(5)] + sorted(admitted)[:2])
        after = rt.performance()
    assert replayed == before  # replay files samples exactly as the live run did
    assert set(after.requests) == set(before.requests)  # no new room after a restart
    assert after.requests[OTHER_KIND] == before.requests[OTHER_KIND] + 5
