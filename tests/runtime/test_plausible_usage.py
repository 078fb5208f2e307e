"""A backend reporting absurd usage does not lock a daily quota (issue 19, point 4).

Observed: a backend reporting 137,500,000 completion tokens for one reply locked a
2,000-token daily quota for the rest of the day. Here an Ollama backend (an in-process
``httpx.MockTransport``, as ``test_no_event_dropped`` uses) reports exactly that for every
reply, whole or streamed; the runtime runs over a real SQLite log. The figure is counted
as the call's bound (its ``max_tokens``, else the model's context window), the raw figure
stays on ``AttemptSucceeded``, a replay and a restarted runtime count the same usage, and
``inspect explain`` and ``state`` show the figure flagged.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import msgspec
import pytest

from actors import ManualClock
from actors.quota import GLOBAL_SCOPE
from events import AttemptSucceeded, QuotaSettled
from events._codec import default_registry
from runtime import (
    EndpointConfig,
    EventLogConfig,
    ModelConfig,
    QuotaConfig,
    QuotaUsage,
    Runtime,
    RuntimeConfig,
)
from runtime._build import QUOTA_PROJECTION
from runtime.inspect._explain_model import explain
from runtime.inspect.web._pages_requests import request_main
from tests.runtime._support import MESSAGES, read_events
from tests.runtime.inspect._requests import explain_json, explain_text, state_text

MODEL = "llama3"
ABSURD = 137_500_000
PROMPT = 12
EVAL_S = 2.0
"""The backend's ``eval_duration``: its tokens/s would be ABSURD / EVAL_S."""
_TAGS = json.dumps({"models": [{"name": MODEL, "model": MODEL}]}).encode()


def _reply(content: str, *, done: bool) -> dict[str, object]:
    reply: dict[str, object] = {
        "model": MODEL,
        "created_at": "2026-01-01T00:00:00Z",
        "message": {"role": "assistant", "content": content},
        "done": done,
    }
    if done:
        reply.update(
            done_reason="stop",
            prompt_eval_count=PROMPT,
            eval_count=ABSURD,
            eval_duration=int(EVAL_S * 1e9),
        )
    return reply


def _absurd_backend(request: httpx.Request) -> httpx.Response:
    """Ollama: the model list, ``/api/show`` unknown, and replies reporting ABSURD tokens."""
    if request.url.path == "/api/tags":
        return httpx.Response(200, content=_TAGS, headers={"content-type": "application/json"})
    if request.url.path != "/api/chat":
        return httpx.Response(404, json={"error": "not found"})
    if json.loads(request.content).get("stream", True):
        pieces = [_reply("a", done=False), _reply(" short", done=False), _reply("", done=True)]
        body = b"".join(json.dumps(p).encode() + b"\n" for p in pieces)
        return httpx.Response(200, content=body, headers={"content-type": "application/x-ndjson"})
    body = json.dumps(_reply("a short", done=True)).encode()
    return httpx.Response(200, content=body, headers={"content-type": "application/json"})


def _config(tmp_path: Path, quota: QuotaConfig, context_length: int | None = None) -> RuntimeConfig:
    return RuntimeConfig(
        endpoints=(EndpointConfig(name="a", url="http://127.0.0.1:9"),),
        models=(ModelConfig(name=MODEL, deployments=("a",), context_length=context_length),),
        event_log=EventLogConfig(path=str(tmp_path / "events.sqlite3")),
        quota=quota,
    )


def _runtime(cfg: RuntimeConfig, clock: ManualClock) -> Runtime:
    transport = httpx.MockTransport(_absurd_backend)
    return Runtime.from_config(cfg, clock=clock, transport=lambda name: transport)


async def _replayed_total(path: Path) -> QuotaUsage:
    """The ledger's settled total folded from every event of the log (no snapshot)."""
    state = QUOTA_PROJECTION.initial
    for stored in await read_events(path):
        if QUOTA_PROJECTION.accepts(stored):
            state = QUOTA_PROJECTION.evolve(state, stored.event)
    return state.settled.get(GLOBAL_SCOPE, QuotaUsage())


async def test_137_million_reported_tokens_do_not_lock_a_2000_token_daily_quota(
    tmp_path: Path, clock: ManualClock
) -> None:
    cfg = _config(tmp_path, QuotaConfig(daily_tokens=2_000))
    async with _runtime(cfg, clock) as rt:
        for _ in range(3):  # before: the first reply settled 10,000,012 and refused the rest
            await rt.chat(MESSAGES, model=MODEL, max_tokens=100)
        async for _chunk in rt.stream(MESSAGES, model=MODEL, max_tokens=100):
            pass
        live = rt.usage()
    assert live.total == QuotaUsage(requests=4, tokens=4 * (PROMPT + 100))
    path = tmp_path / "events.sqlite3"
    attempts = [e.event for e in await read_events(path, AttemptSucceeded)]
    assert len(attempts) == 4
    for attempt in attempts:
        assert isinstance(attempt, AttemptSucceeded)
        assert (attempt.prompt_tokens, attempt.completion_tokens) == (PROMPT, 100)
        assert attempt.reported_completion_tokens == ABSURD
        assert attempt.reported_prompt_tokens is None and attempt.usage_clamped
    whole = attempts[0].tokens_per_s
    assert whole is not None and whole == pytest.approx(100 / EVAL_S)
    settled = [e.event for e in await read_events(path, QuotaSettled)]
    assert [(s.completion_tokens, s.tokens) for s in settled if isinstance(s, QuotaSettled)] == [
        (100, PROMPT + 100)
    ] * 4
    assert await _replayed_total(path) == live.total
    async with _runtime(cfg, clock) as again:
        assert again.usage() == live
        await again.chat(MESSAGES, model=MODEL, max_tokens=100)  # still admitted


async def test_without_max_tokens_the_context_window_bounds_usage_counted_from_events(
    tmp_path: Path, clock: ManualClock
) -> None:
    """No limit configured: usage is folded from the requests' own events, live and on
    replay, with the same bounded figures."""
    cfg = _config(tmp_path, QuotaConfig(), context_length=4_096)
    async with _runtime(cfg, clock) as rt:
        await rt.chat(MESSAGES, model=MODEL)
        await rt.chat(MESSAGES, model=MODEL)
        live = rt.usage()
    assert live.total == QuotaUsage(requests=2, tokens=2 * (PROMPT + 4_096))
    path = tmp_path / "events.sqlite3"
    attempts = [e.event for e in await read_events(path, AttemptSucceeded)]
    assert [
        (a.completion_tokens, a.reported_completion_tokens)
        for a in attempts
        if isinstance(a, AttemptSucceeded)
    ] == [(4_096, ABSURD)] * 2
    assert await _replayed_total(path) == live.total
    async with _runtime(cfg, clock) as again:
        assert again.usage() == live


async def test_inspect_explain_and_state_flag_the_implausible_figure(
    tmp_path: Path, clock: ManualClock
) -> None:
    cfg = _config(tmp_path, QuotaConfig(daily_tokens=10_000))
    async with _runtime(cfg, clock) as rt:
        reply = await rt.chat(MESSAGES, model=MODEL, max_tokens=2_000)
    path = tmp_path / "events.sqlite3"
    flag = "completion tokens 137,500,000 reported, counted as 2,000 (implausible)"
    text = await explain_text(path, reply.request_id)
    assert flag in text
    assert "2000 completion tokens" in text
    steps = (await explain_json(path, reply.request_id))["steps"]
    attempt = next(s for s in steps if s["kind"] == "attempt")
    assert attempt["details"] == [flag] and attempt["tone"] == "warn"
    request_events = [
        e for e in await read_events(path) if e.stream == f"request/{reply.request_id}"
    ]
    assert flag in request_main(explain(request_events))  # the web view's request page
    state = await state_text(path)
    assert "Implausible usage reported in the period (counted as its bound)" in state
    row = next(line for line in state.splitlines() if reply.request_id in line)
    assert "completion" in row and "137,500,000" in row and "2,000" in row


def test_an_attempt_stored_before_the_new_fields_decodes_unflagged() -> None:
    """A payload without ``reported_*`` (every log written before) decodes with them None."""
    old = AttemptSucceeded(
        request_id="r1", at=1.0, attempt=1, deployment="llama3@a", latency_s=0.1,
        prompt_tokens=3, completion_tokens=4,
    )  # fmt: skip
    name, version, payload = default_registry.encode(old)
    fields = msgspec.json.decode(payload)
    assert isinstance(fields, dict)
    for field in ("reported_prompt_tokens", "reported_completion_tokens"):
        fields.pop(field, None)
    decoded = default_registry.decode(name, version, msgspec.json.encode(fields))
    assert decoded == old
    assert isinstance(decoded, AttemptSucceeded) and not decoded.usage_clamped
