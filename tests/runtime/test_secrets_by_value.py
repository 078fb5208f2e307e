"""Secrets by value: a backend that echoes the key never leaks it into any sink.

The backend key is *not* shaped like a provider key (no ``sk-``), so the pattern rules
cannot catch it: only redaction by exact value can. Every chaos fault kind, chat and
stream, through a Runtime and through ``serve`` (both wire formats), with a backend
that quotes the ``Authorization`` credential it received in its error text (as
OpenAI-compatible servers do) and also sends the key URL-encoded and base64-encoded.
Then every sink is searched: log records, the SQLite file (and its WAL), every
``inspect`` command, every page of the web view (``inspect LOG web``, ``/ui``), the
exceptions raised to the caller, the facade's HTTP bodies, ``/health`` and ``/metrics``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import logging
import traceback
from pathlib import Path
from urllib.parse import quote, quote_plus

import httpx
import msgspec

from events import LLMRuntimeError, SqliteEventLog
from events._secrets import mask_secrets_in_json
from runtime import Runtime, RuntimeConfig
from runtime._redaction import MIN_SECRET_CHARS, redact_text, register_secret
from runtime.inspect import main
from runtime.inspect._cli import COMMANDS
from runtime.inspect.web import WebView
from runtime.serve import ServeSettings
from runtime.testing import FAULT_KINDS, ChaosServer, Fault
from tests._logs import capture_records
from tests.runtime._support import MESSAGES, SHORT, config
from tests.runtime.serve._support import PATIENT_HTTP, serving

KEY = "Zq9/mango+Q7:lantern-42"
"""The backend key: no provider shape, and characters that URL-encoding changes."""
FACADE_KEY = "Pear7-quartz-Violet-88-ember"
ENV = {"ECHO_BACKEND_KEY": KEY}
B64 = base64.b64encode(KEY.encode()).decode().rstrip("=")
FORMS = (KEY, quote(KEY, safe=""), quote_plus(KEY, safe=""), B64, FACADE_KEY)
"""What must appear nowhere: the keys, URL-encoded, base64-encoded."""
FRAGMENTS = ("mango", "lantern")
"""Pieces of the key: a half-masked key (a pattern that stopped at ``:``) shows them."""
ECHOED = "Incorrect API key provided: [redacted]"
"""What the echo must have become wherever it arrived."""


def _faults() -> list[Fault]:
    message = f"key {quote(KEY, safe='')} (digest {B64})"
    options: dict[str, dict[str, object]] = {
        "latency": {"delay": 0.01},
        "slow_first_byte": {"delay": 0.01},
        "slow_trickle": {"delay": 0.01},
        "http_error": {"status": 401},
        "rate_limit": {"retry_after": None},
        "huge": {"size": 300_000},
    }
    return [Fault(kind=kind, message=message, **options.get(kind, {})) for kind in FAULT_KINDS]  # type: ignore[arg-type]


def _config(tmp_path: Path, server: ChaosServer) -> RuntimeConfig:
    cfg = config(tmp_path, {"a": server}, {"llama3": ("a",)}, timeouts={"a": SHORT})
    endpoints = tuple(
        msgspec.structs.replace(e, api="openai", api_key_env="ECHO_BACKEND_KEY")
        for e in cfg.endpoints
    )
    return msgspec.structs.replace(cfg, endpoints=endpoints)


def _exception_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)) + repr(exc) + repr(vars(exc))


async def _through_runtime(rt: Runtime, server: ChaosServer, fault: Fault) -> list[str]:
    """One chat and one stream under ``fault``; the text of every exception raised."""
    raised: list[str] = []
    server.set_faults([fault])
    try:
        await rt.chat(MESSAGES, model="llama3")
    except LLMRuntimeError as exc:
        raised.append(_exception_text(exc))
    try:
        async with contextlib.aclosing(rt.stream(MESSAGES, model="llama3")) as chunks:
            async for _ in chunks:
                pass
    except LLMRuntimeError as exc:
        raised.append(_exception_text(exc))
    await rt.reset_health("a")  # the next fault must reach the backend too
    return raised


_ROUTES = (("/v1/chat/completions", False), ("/v1/chat/completions", True),
           ("/api/chat", False), ("/api/chat", True))  # fmt: skip


async def _through_serve(
    rt: Runtime, server: ChaosServer, client: httpx.AsyncClient, fault: Fault
) -> list[str]:
    """Every route, streamed and not, under ``fault``; every body the facade sent."""
    bodies: list[str] = []
    server.set_faults([fault])
    for path, stream in _ROUTES:
        body = {"model": "llama3", "messages": MESSAGES, "stream": stream}
        response = await client.post(path, json=body)
        bodies.append(f"{response.status_code} {response.headers} {response.text}")
        health = await client.get("/health")  # the failure it just recorded
        bodies.append(health.text)
        await rt.reset_health("a")
    return bodies


async def _scenario(tmp_path: Path) -> tuple[list[str], list[str]]:
    """(exception texts, HTTP bodies) of every fault through the runtime and serve."""
    raised: list[str] = []
    bodies: list[str] = []
    settings = ServeSettings(api_key=FACADE_KEY)
    async with (
        ChaosServer(["llama3"], echo_key=True) as server,
        Runtime.from_config(_config(tmp_path, server), environ=ENV) as rt,
    ):
        for fault in _faults():
            raised += await _through_runtime(rt, server, fault)
        async with (
            serving(rt, settings) as url,
            httpx.AsyncClient(
                base_url=url,
                headers={"Authorization": f"Bearer {FACADE_KEY}"},
                timeout=PATIENT_HTTP,
            ) as client,
        ):
            for fault in _faults():
                bodies += await _through_serve(rt, server, client, fault)
            server.clear_faults()
            for path in ("/health", "/metrics", "/v1/models", "/api/tags"):
                response = await client.get(path)
                bodies.append(f"{response.status_code} {response.text}")
    return raised, bodies


def _record_text(record: logging.LogRecord) -> str:
    return f"{record.getMessage()} {vars(record)!r} {record.exc_text or ''}"


def _stored_and_inspected(log: Path) -> list[str]:
    """The log file's bytes (WAL and shared memory too), then every ``inspect`` view."""
    files = [p for p in log.parent.iterdir() if p.name.startswith(log.name)]
    outputs = [b"".join(p.read_bytes() for p in files).decode("utf-8", "replace")]
    for command in COMMANDS:
        if command == "web":  # it serves until stopped: its pages are read below
            continue
        args = {"explain": ["explain", "req"], "timeline": ["timeline", "llama3"]}
        for json_flag in ([], ["--json"]):
            out, err = io.StringIO(), io.StringIO()
            main([str(log), *json_flag, *args.get(command, [command])], stdout=out, stderr=err)
            outputs.append(out.getvalue() + err.getvalue())
    return outputs + asyncio.run(_web_pages(log))


async def _web_pages(path: Path) -> list[str]:
    """Every page of the web view of the log, each request's waterfall included."""
    log = await SqliteEventLog.open_readonly(path)
    view = WebView(log, title=path.name, live=False)
    try:
        await view.start()
        transport = httpx.ASGITransport(app=view.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://view") as http:
            pages = ["/", "/latency", "/requests?kind=slow", "/requests?kind=failed"]
            pages += ["/quotas", "/flow", "/api/position"]
            pages += [f"/request/{row.request_id}" for row in view.index.requests.rows()]
            answers = [await http.get(page) for page in pages]
    finally:
        await view.aclose()
        await log.close()
    assert all(a.status_code == 200 for a in answers), [a.status_code for a in answers]
    return [a.text for a in answers]


def _leaks(text: str) -> list[str]:
    return [form for form in (*FORMS, *FRAGMENTS) if form in text]


async def test_an_echoed_key_reaches_no_sink(tmp_path: Path) -> None:
    with capture_records() as records:
        raised, bodies = await _scenario(tmp_path)
    stored, *inspected = await asyncio.to_thread(_stored_and_inspected, tmp_path / "events.sqlite3")
    sinks = {
        "exceptions": raised,
        "http bodies": bodies,
        "log records": [_record_text(r) for r in records],
        "event log file": [stored],
        "inspect": inspected,
    }
    leaked = {name: _leaks(t) for name, texts in sinks.items() for t in texts if _leaks(t)}
    assert leaked == {}
    # The echo did arrive in each sink (masked): the test would prove nothing otherwise.
    for name in sinks:
        assert any(ECHOED in text for text in sinks[name]), name
    assert len(raised) >= len(FAULT_KINDS)  # most faults fail both calls


def test_short_values_are_not_registered_and_encodings_are() -> None:
    register_secret("hunter2")  # shorter than MIN_SECRET_CHARS: it would mask words
    assert len("hunter2") < MIN_SECRET_CHARS
    assert redact_text("the hunter2 went home") == "the hunter2 went home"
    secret = "Q7/owl+basil=Plum"
    register_secret(secret, user="robot")
    basic = base64.b64encode(f"robot:{secret}".encode()).decode()
    bare = base64.b64encode(secret.encode()).decode()
    text = redact_text(f"a {secret} b {quote(secret, safe='')} c {basic} d {bare} e")
    assert text == "a [redacted] b [redacted] c [redacted] d [redacted] e"


def test_json_stays_valid_whatever_the_secret_holds() -> None:
    secret = 'Rx"9\\owl-Mint-77'
    register_secret(secret)
    payload = msgspec.json.encode({"message": f"bad key {secret}!", secret: [secret, 3]})
    masked = mask_secrets_in_json(payload)
    assert msgspec.json.decode(masked) == {
        "message": "bad key [redacted]!",
        "[redacted]": ["[redacted]", 3],
    }
    clean = msgspec.json.encode({"message": "nothing secret here"})
    assert mask_secrets_in_json(clean) is clean
