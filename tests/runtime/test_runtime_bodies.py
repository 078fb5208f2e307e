"""``event_log.store_bodies``: off, nothing of the bodies is stored; on, the messages and
the reply are on the request's events with secrets masked, and ``explain`` shows them."""

from __future__ import annotations

from pathlib import Path

import msgspec

from events import RequestStarted, RequestSucceeded
from runtime import EventLogConfig, Runtime
from runtime.testing import ChaosServer
from tests.runtime._support import config, read_events
from tests.runtime.inspect._requests import explain_json, explain_text

SECRET = "sk-abcdefghijklmnopqrstuvwxyz0123456789"
MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": f"my key is {SECRET}, keep it safe"},
]
REPLY = "I will never repeat " + SECRET


async def chat_once(tmp_path: Path, server: ChaosServer, store_bodies: bool) -> str:
    server.script("llama3", [REPLY])
    base = config(tmp_path, {"a": server}, {"llama3": ("a",)})
    path = str(tmp_path / "events.sqlite3")
    cfg = msgspec.structs.replace(
        base, event_log=EventLogConfig(path=path, store_bodies=store_bodies)
    )
    async with Runtime.from_config(cfg) as rt:
        reply = await rt.chat(MESSAGES, model="llama3")
    assert reply.content == REPLY  # the caller gets the reply untouched
    return reply.request_id


async def test_bodies_are_not_stored_by_default(
    tmp_path: Path, servers: tuple[ChaosServer, ChaosServer]
) -> None:
    request_id = await chat_once(tmp_path, servers[0], store_bodies=False)
    path = tmp_path / "events.sqlite3"
    stored = await read_events(path, RequestStarted, RequestSucceeded)
    started = next(e.event for e in stored if isinstance(e.event, RequestStarted))
    succeeded = next(e.event for e in stored if isinstance(e.event, RequestSucceeded))
    assert started.prompt is None and succeeded.content is None
    assert started.prompt_chars == sum(len(m["content"]) for m in MESSAGES)
    assert len(started.prompt_hash) > 0  # lengths and a hash, as documented
    wal = path.with_name(path.name + "-wal")
    raw = path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    assert b"keep it safe" not in raw and b"never repeat" not in raw
    assert "Bodies" not in await explain_text(path, request_id)


async def test_stored_bodies_are_masked_and_explained(
    tmp_path: Path, servers: tuple[ChaosServer, ChaosServer]
) -> None:
    request_id = await chat_once(tmp_path, servers[0], store_bodies=True)
    path = tmp_path / "events.sqlite3"
    stored = await read_events(path, RequestStarted, RequestSucceeded)
    started = next(e.event for e in stored if isinstance(e.event, RequestStarted))
    succeeded = next(e.event for e in stored if isinstance(e.event, RequestSucceeded))
    assert started.prompt is not None
    assert (started.prompt[0].role, started.prompt[0].content) == ("system", "You are terse.")
    user = started.prompt[1].content
    assert "keep it safe" in user and SECRET not in user and "sk-" in user
    assert succeeded.content is not None and succeeded.content.startswith("I will never repeat")
    assert SECRET not in succeeded.content
    text = await explain_text(path, request_id)
    assert "Bodies" in text and "[user]" in text and "keep it safe" in text
    assert "[reply]" in text and SECRET not in text
    data = await explain_json(path, request_id)
    assert data["prompt"][1]["role"] == "user" and SECRET not in str(data)
