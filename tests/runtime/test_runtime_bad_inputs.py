"""RELIABILITY.md "Bad inputs and faults" items 1-12, through the public Runtime.

Real sockets on 127.0.0.1 (ChaosServer, or a minimal raw asyncio HTTP server below for
what the chaos backend cannot send: redirects, hand-made usage fields, a socket that
reports when the client hung up), real SQLite in ``tmp_path``.

Where each item is covered (this module adds what was missing):

====  ==============================================  =========================================
item  what                                            test(s)
====  ==============================================  =========================================
1     config: syntax, types, ranges, duplicates,      tests/runtime/test_config_bad_inputs.py
      unknown keys, missing references                (whole module);
                                                      test_runtime_chat::test_invalid_config_
                                                      is_rejected_whole_before_anything_starts
2     unknown model: fast ModelNotFoundError, lists   test_runtime_chat::test_unknown_model_is_
      what is available, no request, no penalty       refused_fast_without_any_request (chat);
                                                      here: test_unknown_model_in_a_stream_...
                                                      (stream, and no health/attempt events)
3     file://, credentials, link-local URLs           test_config_bad_inputs::test_bad_urls
                                                      (loader); here: test_unsafe_endpoint_
                                                      urls_are_refused_by_from_config
      redirect to another host not followed           here: test_a_redirect_to_another_host_...
4     500/503 retried elsewhere                       test_runtime_failures::test_backend_
                                                      failures_go_to_the_next_deployment
      500/502/503/504 retried, counted                here: test_5xx_is_retried_and_counted
      Retry-After seconds/huge/negative/garbage       test_runtime_retry::test_retry_after_is_
                                                      honoured_but_capped
      Retry-After HTTP-date, 1e400                    here: test_retry_after_http_date_...
      the budget stops a retry storm                  test_runtime_retry::test_the_retry_
                                                      budget_stops_a_retry_storm
5     400 context overflow / generation error:        test_runtime_failures::test_request_
      raised at once, no penalty                      caused_errors_are_raised_at_once_...;
                                                      real llama.cpp: tests/real_backend/
                                                      test_runtime_llama.py
      401 -> failed, traffic avoids it                test_runtime_failures::test_auth_failure_
                                                      marks_the_deployment_failed_...
      403 -> failed, actionable, others serve         here: test_403_marks_the_deployment_...
6     connection refused (killed endpoint)            test_runtime_health::test_killed_endpoint_
                                                      mid_load_fails_no_request_and_recovers
                                                      (chat); here: test_connection_refused_
                                                      before_a_stream_falls_back
      reset mid-body, hang, slow first byte (chat)    test_runtime_failures (parametrized)
      slow trickle -> timeout_idle vs timeout_total   here: test_slow_first_byte_idle_and_total_
                                                      deadlines_are_separate_classes
7     truncated / error line after text (stream)      test_runtime_stream::test_a_failure_after_
                                                      text_raises_stream_interrupted_...
      error line before text -> fallback (stream)     test_runtime_stream::test_stream_falls_
                                                      back_before_the_first_chunk
      malformed / html_200 / truncate (chat)          test_runtime_failures (parametrized)
      the same over SSE and NDJSON, through stream    here: test_stream_faults_before_the_first_
                                                      chunk_fall_back, test_stream_faults_
                                                      after_text_raise_stream_interrupted
      objects split across reads, several per read,   tests/actors/endpoint/test_streams.py,
      SSE comments, CRLF                              test_openai.py, test_ollama.py (parsers)
8     huge / endless responses, no newline            here: test_huge_responses_...
9     usage missing, negative, absurd                 here: test_usage_fields_that_cannot_be_
                                                      trusted_give_none_never_a_crash
10    wall-clock jumps around the quota reset hour    not applicable yet: quotas are not wired
                                                      into the Runtime (rt.usage() is absent)
11    cancel -> counts and probe permits released     test_runtime_stream::test_cancelling_a_
                                                      chat_releases_counts_..., test_cancelling_
                                                      a_probe_gives_its_permit_back, test_
                                                      closing_a_stream_early_...
      cancel -> the upstream connection is closed     here: test_cancelling_closes_the_upstream_
                                                      connection
      cancel while parked in a backoff                here: test_cancelling_during_a_backoff_
                                                      releases_the_counts
12    1,000 concurrent calls while half-open          here: test_a_thousand_concurrent_calls_...
====  ==============================================  =========================================
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Literal

import msgspec
import pytest

from actors import ManualClock
from actors.endpoint import Usage
from events import (
    AttemptFailed,
    AttemptStarted,
    DeploymentDegraded,
    DeploymentFailed,
    DeploymentQuarantined,
    HealthOutcomeRecorded,
)
from events import StreamInterrupted as StreamInterruptedEvent
from runtime import (
    AllCandidatesFailed,
    ConfigError,
    EndpointConfig,
    EventLogConfig,
    HealthConfig,
    ModelConfig,
    ModelNotFoundError,
    NoCandidates,
    Reply,
    RetryConfig,
    Runtime,
    RuntimeConfig,
    StreamBroken,
    StreamChunk,
    Timeouts,
)
from runtime.testing import ChaosServer, Fault
from tests.runtime._support import MESSAGES, PATIENT, SHORT, config, eventually, read_events

Servers = tuple[ChaosServer, ChaosServer]
Api = Literal["ollama", "openai"]
LOG = "events.sqlite3"


def build(
    tmp_path: Path,
    urls: Mapping[str, str],
    models: Mapping[str, tuple[str, ...]],
    *,
    api: Api = "ollama",
    timeouts: Timeouts = PATIENT,
    health: HealthConfig | None = None,
    retry: RetryConfig | None = None,
) -> RuntimeConfig:
    """Like ``_support.config`` but over any URLs, with the wire API and deadlines chosen."""
    return RuntimeConfig(
        endpoints=tuple(
            EndpointConfig(name=n, url=u, api=api, timeouts=timeouts, max_concurrency=64)
            for n, u in urls.items()
        ),
        models=tuple(ModelConfig(name=m, deployments=d) for m, d in models.items()),
        event_log=EventLogConfig(path=str(tmp_path / LOG)),
        health=health or HealthConfig(check_interval_seconds=0),
        retry=retry or RetryConfig(backoff_base=0.0, backoff_cap=0.0),
    )


async def collect(stream: AsyncIterator[StreamChunk]) -> list[StreamChunk]:
    return [chunk async for chunk in stream]


# --- a minimal raw HTTP/1.1 server -----------------------------------------------------

RawReply = bytes | Sequence[bytes]
"""bytes: the whole response, then close. A sequence: send each part, then keep the
connection open (hang) until the client closes it."""
RawHandler = Callable[[str, str, bytes], Awaitable[RawReply]]


def response(
    status: int,
    body: bytes = b"",
    *,
    headers: Sequence[tuple[str, str]] = (),
    content_type: str = "application/json",
    length: bool = True,
) -> bytes:
    """A complete HTTP/1.1 response; ``length=False`` leaves the body open-ended."""
    lines = [f"HTTP/1.1 {status} X", f"Content-Type: {content_type}", "Connection: close"]
    if length:
        lines.append(f"Content-Length: {len(body)}")
    lines += [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


TAGS = response(200, msgspec.json.encode({"models": [{"name": "llama3:latest"}]}))


class RawServer:
    """One response per connection, from ``handler(method, path, body)``; counts what
    it saw and notices when a client hangs up on a connection it kept open."""

    def __init__(self, handler: RawHandler, host: str = "127.0.0.1") -> None:
        self._handler, self._host = handler, host
        self._server: asyncio.Server | None = None
        self.connections = 0
        self.requests: list[tuple[str, str, bytes]] = []
        self.hung_up = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._serve, self._host, 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://{self._host}:{self._server.sockets[0].getsockname()[1]}"

    def chats(self) -> int:
        return sum(1 for _, path, _ in self.requests if path != "/api/tags")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            method, path, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
            length = 0
            for line in head.decode("latin-1").split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            body = await reader.readexactly(length)
            self.requests.append((method, path, body))
            reply = await self._handler(method, path, body)
            if isinstance(reply, bytes):
                writer.write(reply)
                await writer.drain()
                return
            for part in reply:
                writer.write(part)
                await writer.drain()
            with contextlib.suppress(ConnectionError):
                while await reader.read(1024):  # b"" = FIN from the client
                    pass
            self.hung_up.set()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()


# --- item 2: unknown model ---------------------------------------------------------------


async def test_unknown_model_in_a_stream_is_refused_fast_and_penalises_nothing(
    tmp_path: Path, servers: Servers
) -> None:
    a, b = servers
    cfg = config(tmp_path, {"a": a, "b": b}, {"llama3": ("a", "b"), "mistral": ("a",)})
    async with Runtime.from_config(cfg) as rt:
        with pytest.raises(ModelNotFoundError) as missing:
            await collect(rt.stream(MESSAGES, model="mistral"))
        with pytest.raises(ModelNotFoundError) as again:  # cached: no second list fetch
            await collect(rt.stream(MESSAGES, model="mistral"))
        tags = a.requests_for(route="/api/tags")
        health = rt.health()
    # "fast": refused from the catalog, without a chat request (how fast is measured by
    # ``python -m tests.bench.runtime_chat``, not asserted here)
    assert missing.value.model == "mistral"
    assert missing.value.available == ("llama3:latest", "qwen:latest")
    assert "available: llama3:latest" in str(missing.value) and again.value.model == "mistral"
    assert tags == 1
    assert a.requests_for(route="/api/chat") + b.requests_for(route="/api/chat") == 0
    assert health.deployment("mistral@a").status == "unknown"
    penalties = await read_events(
        tmp_path / LOG,
        AttemptStarted,
        AttemptFailed,
        HealthOutcomeRecorded,
        DeploymentDegraded,
        DeploymentQuarantined,
        DeploymentFailed,
    )
    assert penalties == []


# --- item 3: URLs and redirects ---------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("file:///etc/passwd", "is not an http(s) URL"),
        ("http://admin:hunter2@127.0.0.1:11434", "contains credentials"),
        ("http://169.254.169.254/latest/meta-data", "link-local or cloud metadata"),
    ],
    ids=["file", "credentials", "metadata"],
)
def test_unsafe_endpoint_urls_are_refused_by_from_config(
    tmp_path: Path, url: str, fragment: str
) -> None:
    path = tmp_path / "llm.yaml"
    log = tmp_path / "never.sqlite3"
    path.write_text(
        f"event_log: {{path: {log}}}\n"
        "endpoints:\n"
        '  - {name: ok, url: "http://127.0.0.1:11434"}\n'
        f'  - {{name: bad, url: "{url}"}}\n'
        "models:\n  - {name: llama3, deployments: [ok, bad]}\n"
    )
    with pytest.raises(ConfigError) as caught:
        Runtime.from_config(path)
    assert caught.value.paths == ("endpoints[1].url",)
    assert fragment in str(caught.value)
    assert "hunter2" not in str(caught.value)  # the password is never echoed
    assert not log.exists()  # nothing started


async def test_a_redirect_to_another_host_is_not_followed(tmp_path: Path, servers: Servers) -> None:
    _, b = servers
    async with RawServer(_trap_handler, host="127.0.0.2") as trap:
        target = f"{trap.url}/api/chat?token=sk-secret123"

        async def redirect(method: str, path: str, body: bytes) -> RawReply:
            if path == "/api/tags":
                return TAGS
            return response(302, headers=[("Location", target)])

        async with RawServer(redirect) as red:
            cfg = build(tmp_path, {"red": red.url, "b": b.url}, {"llama3": ("red", "b")})
            async with Runtime.from_config(cfg) as rt:
                reply = await rt.chat(MESSAGES, model="llama3")
                chunks = await collect(rt.stream(MESSAGES, model="llama3"))
                status = rt.health().deployment("llama3@red").status
        assert red.chats() >= 1
    assert trap.connections == 0  # never followed
    assert reply.endpoint == "b" and chunks[-1].done and chunks[-1].endpoint == "b"
    first = reply.attempts[0]
    assert (first.deployment, first.failure, first.status) == ("llama3@red", "bad_response", 302)
    assert "redirect to host '127.0.0.2' not followed" in first.message
    assert "sk-secret123" not in first.message  # only the host is named
    assert status == "degraded"


async def _trap_handler(method: str, path: str, body: bytes) -> RawReply:
    return response(200, b"{}")


# --- item 4: 5xx retried and counted; Retry-After as an HTTP-date --------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_5xx_is_retried_and_counted(tmp_path: Path, servers: Servers, status: int) -> None:
    a, _ = servers
    a.set_fault(Fault(kind="http_error", status=status, count=1, retry_after=None), model="llama3")
    cfg = config(tmp_path, {"a": a}, {"llama3": ("a",)})
    async with Runtime.from_config(cfg) as rt:
        reply = await rt.chat(MESSAGES, model="llama3")
        stats = rt.statistics()
    outcomes = [(r.failure, r.status) for r in reply.attempts]
    assert outcomes == [("server_error", status), (None, None)]
    assert stats.router.retries == 1 and stats.router.attempts == 2
    [endpoint] = stats.endpoints
    assert endpoint.failures == 1 and endpoint.failures_by_class == {"server_error": 1}
    [failed] = await read_events(tmp_path / LOG, AttemptFailed)
    assert isinstance(failed.event, AttemptFailed) and failed.event.status == status


def _http_date(offset: float) -> str:
    return email.utils.formatdate(time.time() + offset, usegmt=True)


@pytest.mark.parametrize(
    ("header", "low", "high"),
    [
        (lambda: _http_date(3600), 2.0, 2.0),  # huge date: capped
        (lambda: _http_date(-3600), 0.0, 0.0),  # in the past: no wait
        (lambda: _http_date(1.5), 0.3, 1.5),  # honoured (the date has 1 s resolution)
        (lambda: "1e400", 0.0, 0.0),  # infinite: garbage, ignored
        (lambda: "Wed, 99 Foo 2024 25:61:61 GMT", 0.0, 0.0),  # a broken date: garbage
    ],
    ids=["date-huge", "date-past", "date-near", "infinite", "bad-date"],
)
async def test_retry_after_http_date_is_honoured_but_capped(
    tmp_path: Path,
    servers: Servers,
    clock: ManualClock,
    header: Callable[[], str],
    low: float,
    high: float,
) -> None:
    a, _ = servers
    a.set_fault(Fault(kind="rate_limit", retry_after=header(), count=1), model="llama3")
    retry = RetryConfig(backoff_base=0.0, backoff_cap=0.0, retry_after_cap_seconds=2.0)
    patient = HealthConfig(check_interval_seconds=0, failure_threshold=100, min_calls=20)
    cfg = config(tmp_path, {"a": a}, {"llama3": ("a",)}, health=patient, retry=retry)
    async with Runtime.from_config(cfg, clock=clock) as rt:
        call = asyncio.create_task(rt.chat(MESSAGES, model="llama3"))
        await eventually(lambda: call.done() or a.requests_for(route="/api/chat") == 1)
        if high:  # the retry is parked on the clock until its Retry-After is over

            def parked() -> bool:
                deadline = clock.next_deadline()
                return deadline is not None and deadline <= clock.monotonic() + high

            await eventually(lambda: call.done() or parked())
            assert not call.done()
            await clock.advance(high)
        reply = await call
    waited = reply.attempts[1].backoff_s
    assert reply.attempts[0].failure == "rate_limited"
    assert low <= waited <= high and waited <= 2.0


# --- item 5: 403 ------------------------------------------------------------------------


async def test_403_marks_the_deployment_failed_with_an_actionable_message_and_others_serve(
    tmp_path: Path, servers: Servers
) -> None:
    a, b = servers
    a.set_fault(Fault(kind="http_error", status=403), model="llama3")
    cfg = config(tmp_path, {"a": a, "b": b}, {"llama3": ("a", "b")})
    async with Runtime.from_config(cfg) as rt:
        replies = [await rt.chat(MESSAGES, model="llama3") for _ in range(4)]
        chunks = await collect(rt.stream(MESSAGES, model="llama3"))
        health = rt.health().deployment("llama3@a")
    assert [r.endpoint for r in replies] == ["b"] * 4 and chunks[-1].endpoint == "b"
    assert replies[0].attempts[0].failure == "auth"
    assert a.requests_for(route="/api/chat") == 1  # failed: never tried again
    assert health.status == "failed" and health.last_failure == "auth"
    [failed] = await read_events(tmp_path / LOG, DeploymentFailed)
    assert isinstance(failed.event, DeploymentFailed)
    reason = failed.event.reason.lower()
    assert "api key" in reason and "403" in failed.event.reason  # says what to fix


# --- item 6: deadlines are classified separately -----------------------------------------


@pytest.mark.parametrize(
    ("fault", "timeouts", "failure"),
    [
        # Only a's deadline is short, and each fault is far beyond it; b is patient.
        (Fault(kind="slow_first_byte", delay=60.0), SHORT, "timeout_first_byte"),
        # the first chunk comes at once, the second never in time
        (
            Fault(kind="slow_trickle", delay=60.0),
            Timeouts(connect=10.0, first_byte=30.0, idle=0.3, total=60.0),
            "timeout_idle",
        ),
        # each gap is within idle, but the whole stream (20 gaps) is not within total
        (
            Fault(kind="slow_trickle", delay=0.5),
            Timeouts(connect=10.0, first_byte=30.0, idle=30.0, total=2.0),
            "timeout_total",
        ),
    ],
    ids=["first_byte", "idle", "total"],
)
async def test_slow_first_byte_idle_and_total_deadlines_are_separate_classes(
    tmp_path: Path, servers: Servers, fault: Fault, timeouts: Timeouts, failure: str
) -> None:
    a, b = servers
    a.set_fault(fault, model="llama3")
    cfg = config(tmp_path, {"a": a, "b": b}, {"llama3": ("a", "b")}, timeouts={"a": timeouts})
    received: list[str] = []
    async with Runtime.from_config(cfg) as rt:
        try:
            async for chunk in rt.stream(MESSAGES, model="llama3"):
                received.append(chunk.content)
            outcome: str | None = None
        except StreamBroken as exc:
            outcome = exc.failure
            assert exc.partial == "".join(received) and exc.deployment == "llama3@a"
        stats = {e.name: e for e in rt.statistics().endpoints}
    # Before any text an attempt fails (AttemptFailed); after text the stream is
    # interrupted (StreamBroken): either way the class is recorded.
    [failed] = await read_events(tmp_path / LOG, AttemptFailed, StreamInterruptedEvent)
    assert isinstance(failed.event, AttemptFailed | StreamInterruptedEvent)
    assert failed.event.failure == failure
    if failure == "timeout_first_byte":
        assert outcome is None and received  # nothing delivered yet: fell back to b
        assert b.requests_for(route="/api/chat") == 1
    else:
        assert outcome == failure  # text was delivered: no fallback, an explicit error
        assert b.requests_for(route="/api/chat") == 0
    assert stats["a"].failures_by_class == {failure: 1} and stats["a"].inflight == 0


async def test_connection_refused_before_a_stream_falls_back(
    tmp_path: Path, servers: Servers
) -> None:
    a, b = servers
    cfg = config(tmp_path, {"a": a, "b": b}, {"llama3": ("a", "b")})
    async with Runtime.from_config(cfg) as rt:
        await rt.chat(MESSAGES, model="llama3")  # a answers; the cursor moves to b
        await a.stop_listening()
        first = await collect(rt.stream(MESSAGES, model="llama3"))  # b's turn
        second = await collect(rt.stream(MESSAGES, model="llama3"))  # a's turn: refused
    assert first[-1].done and second[-1].done
    assert {c.endpoint for c in first + second} == {"b"}
    [failed] = await read_events(tmp_path / LOG, AttemptFailed)
    assert isinstance(failed.event, AttemptFailed)
    assert (failed.event.deployment, failed.event.failure) == ("llama3@a", "connection")


# --- item 7: broken streams over NDJSON and SSE ------------------------------------------

BEFORE_TEXT = [
    (Fault(kind="malformed"), "bad_response"),
    (Fault(kind="html_200"), "bad_response"),
    (Fault(kind="error_in_stream"), "server_error"),
    (Fault(kind="reset"), "connection"),
    (Fault(kind="http_error", status=502), "server_error"),
]


@pytest.mark.parametrize("api", ["ollama", "openai"])
@pytest.mark.parametrize(("fault", "failure"), BEFORE_TEXT, ids=[f.kind for f, _ in BEFORE_TEXT])
async def test_stream_faults_before_the_first_chunk_fall_back(
    tmp_path: Path, servers: Servers, api: Api, fault: Fault, failure: str
) -> None:
    a, b = servers
    for model in ("llama3", "qwen"):
        a.set_fault(fault, model=model)
    models = {"llama3": ("a", "b"), "qwen": ("a", "b")}  # one round-robin cursor each
    cfg = build(tmp_path, {"a": a.url, "b": b.url}, models, api=api)
    async with Runtime.from_config(cfg) as rt:
        chunks = await collect(rt.stream(MESSAGES, model="llama3"))
        reply = await rt.chat(MESSAGES, model="qwen")  # the chat path, same fault
    *body, final = chunks
    assert body and final.done and {c.endpoint for c in chunks} == {"b"}
    assert reply.endpoint == "b"
    failures = [e.event for e in await read_events(tmp_path / LOG, AttemptFailed)]
    assert [(f.deployment, f.failure) for f in failures if isinstance(f, AttemptFailed)] == [
        ("llama3@a", failure),
        ("qwen@a", failure),
    ]


AFTER_TEXT = [
    (Fault(kind="malformed", after_chunks=2), "bad_response"),
    (Fault(kind="reset", after_chunks=2), "connection"),
    (Fault(kind="truncate", after_chunks=2), "bad_response"),
    (Fault(kind="error_in_stream", after_chunks=2), "server_error"),
]


@pytest.mark.parametrize("api", ["ollama", "openai"])
@pytest.mark.parametrize(("fault", "failure"), AFTER_TEXT, ids=[f.kind for f, _ in AFTER_TEXT])
async def test_stream_faults_after_text_raise_stream_interrupted(
    tmp_path: Path, servers: Servers, api: Api, fault: Fault, failure: str
) -> None:
    a, b = servers
    a.set_fault(fault, model="llama3")
    cfg = build(tmp_path, {"a": a.url, "b": b.url}, {"llama3": ("a", "b")}, api=api)
    received: list[StreamChunk] = []
    async with Runtime.from_config(cfg) as rt:
        with pytest.raises(StreamBroken) as caught:
            async for chunk in rt.stream(MESSAGES, model="llama3"):
                received.append(chunk)
        inflight = rt.statistics().router.inflight
    # OpenAI's first SSE event carries only the role: 1 or 2 content chunks got through.
    assert 1 <= len(received) <= 2 and not any(c.done for c in received)  # never complete
    assert caught.value.partial == "".join(c.content for c in received)
    assert caught.value.failure == failure and caught.value.deployment == "llama3@a"
    assert b.requests_for(route="/api/chat") + b.requests_for(route="/v1/chat/completions") == 0
    assert inflight == {}


# --- item 8: huge and endless responses ---------------------------------------------------


@pytest.mark.parametrize(
    ("call", "size", "cap", "says"),
    [
        # an unterminated 3 MiB JSON document
        ("chat", 3 << 20, 4 << 20, "invalid JSON"),
        # a 3 MiB line: the 1 MiB line cap stops the read
        ("stream", 3 << 20, 2 << 20, "line too long (over 1048576 bytes without a newline)"),
        # "endless" (80 MiB): reading stops at the 64 MiB response cap
        ("chat", 80 << 20, (64 << 20) + (1 << 20), "larger than the 67108864-byte cap"),
    ],
    ids=["chat-3MiB", "stream-line-3MiB", "chat-endless"],
)
async def test_huge_responses_fail_clearly_with_bounded_reads(
    tmp_path: Path, servers: Servers, call: str, size: int, cap: int, says: str
) -> None:
    a, b = servers
    a.set_fault(Fault(kind="huge", size=size), model="llama3")
    cfg = config(tmp_path, {"a": a, "b": b}, {"llama3": ("a", "b")})
    async with Runtime.from_config(cfg) as rt:
        if call == "chat":
            reply: Reply | None = await rt.chat(MESSAGES, model="llama3")
            assert reply is not None and reply.endpoint == "b"
            attempt = reply.attempts[0]
            failure, message = attempt.failure, attempt.message
        else:
            chunks = await collect(rt.stream(MESSAGES, model="llama3"))
            assert chunks[-1].done and chunks[-1].endpoint == "b"
            [ev] = await _failed_attempts(rt, tmp_path)
            failure, message = ev.failure, ev.message
        received = {e.name: e.bytes_received for e in rt.statistics().endpoints}["a"]
    assert failure == "bad_response"
    assert message.startswith("a (") and says in message
    assert len(message) < 1000  # the body is quoted as a short snippet, never whole
    assert received <= cap


async def _failed_attempts(rt: Runtime, tmp_path: Path) -> list[AttemptFailed]:
    await rt.flush_events()
    return [
        e.event
        for e in await read_events(tmp_path / LOG, AttemptFailed)
        if isinstance(e.event, AttemptFailed)
    ]


# --- item 9: usage that cannot be trusted -------------------------------------------------


def _ollama_done(**counts: object) -> bytes:
    return msgspec.json.encode(
        {
            "model": "llama3:latest",
            "created_at": "2024-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": "hi there"},
            "done": True,
            "done_reason": "stop",
            **counts,
        }
    )


USAGE_CASES = [
    ({"prompt_eval_count": 5, "eval_count": -3}, None),
    ({"prompt_eval_count": -1, "eval_count": 2}, None),
    ({"prompt_eval_count": 5, "eval_count": 10**15}, None),
    ({"prompt_eval_count": "5", "eval_count": 2}, None),
    ({"prompt_eval_count": 5, "eval_count": 2.5}, None),
    ({"prompt_eval_count": True, "eval_count": 2}, None),
    ({}, None),
    ({"eval_count": 4}, (0, 4)),  # a fully cached prompt: Ollama omits the count
    ({"prompt_eval_count": 3, "eval_count": 4, "eval_duration": -7}, (3, 4)),
]


@pytest.mark.parametrize(
    ("counts", "usage"), USAGE_CASES, ids=[str(i) for i in range(len(USAGE_CASES))]
)
async def test_usage_fields_that_cannot_be_trusted_give_none_never_a_crash(
    tmp_path: Path, counts: dict[str, object], usage: tuple[int, int] | None
) -> None:
    body = _ollama_done(**counts)

    async def handler(method: str, path: str, raw: bytes) -> RawReply:
        if path == "/api/tags":
            return TAGS
        if msgspec.json.decode(raw).get("stream"):
            line = msgspec.json.encode(
                {"model": "llama3:latest", "message": {"role": "assistant", "content": "hi"}}
            )
            return response(200, line + b"\n" + body + b"\n", content_type="application/x-ndjson")
        return response(200, body)

    async with RawServer(handler) as raw:
        cfg = build(tmp_path, {"raw": raw.url}, {"llama3": ("raw",)})
        async with Runtime.from_config(cfg) as rt:
            reply = await rt.chat(MESSAGES, model="llama3")
            chunks = await collect(rt.stream(MESSAGES, model="llama3"))
            health = rt.health().deployment("llama3@raw").status
    assert reply.content == "hi there" and _counts(reply.usage) == usage
    assert chunks[-1].done and _counts(chunks[-1].usage) == usage
    assert health == "healthy"  # a bad usage field is not a failure


def _counts(usage: Usage | None) -> tuple[int, int] | None:
    return None if usage is None else (usage.prompt_tokens, usage.completion_tokens)


# --- item 11: cancellation closes the upstream connection --------------------------------


@pytest.mark.parametrize("call", ["chat", "stream"])
async def test_cancelling_closes_the_upstream_connection(tmp_path: Path, call: str) -> None:
    line = msgspec.json.encode(
        {"model": "llama3:latest", "message": {"role": "assistant", "content": "partial "}}
    )

    async def handler(method: str, path: str, raw: bytes) -> RawReply:
        if path == "/api/tags":
            return TAGS
        head = response(200, content_type="application/x-ndjson", length=False)
        if msgspec.json.decode(raw).get("stream"):
            return [head, line + b"\n"]  # one chunk, then silence
        return []  # accept, read the request, never answer

    async with RawServer(handler) as raw:
        cfg = build(tmp_path, {"raw": raw.url}, {"llama3": ("raw",)})  # patient deadlines
        got_chunk = asyncio.Event()
        async with Runtime.from_config(cfg) as rt:

            async def consume() -> None:
                if call == "chat":
                    await rt.chat(MESSAGES, model="llama3")
                else:
                    async for _ in rt.stream(MESSAGES, model="llama3"):
                        got_chunk.set()

            task = asyncio.create_task(consume())
            if call == "stream":
                await asyncio.wait_for(got_chunk.wait(), 30)
            else:
                await eventually(lambda: raw.chats() == 1)
            assert not raw.hung_up.is_set()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            # The runtime closed the socket itself (not at shutdown, not by a timeout).
            await asyncio.wait_for(raw.hung_up.wait(), 30)
            stats = rt.statistics()
    assert stats.router.inflight == {} and stats.router.cancelled == 1
    assert [e.inflight for e in stats.endpoints] == [0]


async def test_cancelling_during_a_backoff_releases_the_counts(
    tmp_path: Path, servers: Servers, clock: ManualClock
) -> None:
    a, _ = servers
    patient = HealthConfig(check_interval_seconds=0, failure_threshold=100, min_calls=20)
    retry = RetryConfig(backoff_base=10.0, backoff_cap=10.0)
    cfg = config(tmp_path, {"a": a}, {"llama3": ("a",)}, health=patient, retry=retry)
    async with Runtime.from_config(cfg, clock=clock, rng=lambda: 0.5) as rt:
        a.set_fault(Fault(kind="http_error", status=503, count=1), model="llama3")
        call = asyncio.create_task(rt.chat(MESSAGES, model="llama3"))
        # parked on the clock for its 5 s backoff (u=0.5 * min(10, 10 * 2**0))
        await eventually(lambda: clock.next_deadline() == clock.monotonic() + 5.0)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(call, 5)
        after = rt.statistics()
        reply = await asyncio.wait_for(rt.chat(MESSAGES, model="llama3"), 5)
    assert a.requests_for(route="/api/chat") == 2  # the failure, then the new call
    assert after.router.inflight == {} and after.router.cancelled == 1
    assert [e.inflight for e in after.endpoints] == [0]
    assert reply.endpoint == "a" and [r.failure for r in reply.attempts] == [None]


# --- item 12: a thousand concurrent calls while a deployment is half-open -----------------


@pytest.mark.parametrize("probes", [1, 3])
@pytest.mark.parametrize("with_fallback", [True, False], ids=["fallback", "alone"])
async def test_a_thousand_concurrent_calls_let_only_the_allowed_probes_through(
    tmp_path: Path, servers: Servers, clock: ManualClock, probes: int, with_fallback: bool
) -> None:
    a, b = servers
    health = HealthConfig(
        check_interval_seconds=0,
        failure_threshold=1,
        quarantine_seconds=5.0,
        half_open_probes=probes,
    )
    deployments = ("a", "b") if with_fallback else ("a",)
    cfg = build(tmp_path, {"a": a.url, "b": b.url}, {"llama3": deployments}, health=health)
    calls = 1000
    async with Runtime.from_config(cfg, clock=clock) as rt:
        a.set_fault(Fault(kind="http_error", status=500, count=1), model="llama3")
        with contextlib.suppress(AllCandidatesFailed):
            await rt.chat(MESSAGES, model="llama3")
        assert rt.health().deployment("llama3@a").status == "quarantined"
        await clock.advance(6.0)  # past the deadline: half-open on the next request
        a.set_fault(Fault(kind="hang"), model="llama3")  # probes stay in flight
        tasks = [asyncio.create_task(rt.chat(MESSAGES, model="llama3")) for _ in range(calls)]
        await eventually(lambda: sum(t.done() for t in tasks) == calls - probes, within=30)
        await eventually(lambda: a.requests_for(route="/api/chat") >= 1 + probes)
        await asyncio.sleep(0.1)  # anything else on its way to a would arrive now
        on_a = a.requests_for(route="/api/chat")
        in_flight = rt.statistics().health.probes_in_flight
        pending = [t for t in tasks if not t.done()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        released = rt.statistics().health.probes_in_flight
    assert on_a == 1 + probes  # the failure that quarantined it, then only the probes
    assert in_flight == probes and released == 0
    done = [t for t in tasks if t.done() and not t.cancelled()]
    assert len(done) == calls - probes
    if with_fallback:
        replies = [t.result() for t in done]
        assert {r.endpoint for r in replies} == {"b"}
        assert all(len(r.attempts) == 1 for r in replies)  # a was skipped, not tried
    else:
        errors = [t.exception() for t in done]
        assert all(isinstance(e, NoCandidates) for e in errors)
        error = errors[0]
        assert isinstance(error, NoCandidates)
        assert [(s.deployment, s.reason) for s in error.skipped] == [("llama3@a", "probing_full")]
