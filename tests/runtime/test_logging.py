"""``configure_logging`` (renderers, levels, redaction, stdlib) and ``log_requests``."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from events import ROOT_LOGGER, get_logger
from runtime import Runtime, StreamBroken
from runtime._logging import configure_logging, log_requests, make_redactor, redact_secrets
from runtime.testing import ChaosServer, Fault
from tests.runtime._support import MESSAGES, config, eventually

Servers = tuple[ChaosServer, ChaosServer]
log = get_logger("tests.logging")


class FakeTerminal(io.StringIO):
    """A text stream that says it is a TTY."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Put the loggers back as they were: other tests share them."""
    names = ("", ROOT_LOGGER, "uvicorn", "uvicorn.error")
    saved = {n: (list(logging.getLogger(n).handlers), logging.getLogger(n).level) for n in names}
    yield
    for name, (handlers, level) in saved.items():
        logger = logging.getLogger(name)
        for handler in [h for h in logger.handlers if h not in handlers]:
            logger.removeHandler(handler)
        logger.setLevel(level)


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


# --- renderers and levels -------------------------------------------------------------


def test_json_lines_when_the_stream_is_not_a_tty() -> None:
    out = io.StringIO()
    configure_logging(stream=out)
    log.info("test.json", answer=42)
    [line] = json_lines(out)
    assert list(line)[:4] == ["timestamp", "level", "logger", "event"]
    assert line["logger"] == "runtime.tests.logging"
    assert line["event"] == "test.json" and line["level"] == "info" and line["answer"] == 42
    assert line["timestamp"].endswith("Z")  # ISO 8601, UTC


def test_console_with_colours_on_a_tty() -> None:
    out = FakeTerminal()
    configure_logging(stream=out)
    log.info("test.console", answer=42)
    text = out.getvalue()
    assert "test.console" in text and "\x1b[" in text  # ANSI colours
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


def test_json_flag_overrides_the_tty_check() -> None:
    terminal, pipe = FakeTerminal(), io.StringIO()
    configure_logging(stream=terminal, json=True)
    log.info("test.forced_json")
    configure_logging(stream=pipe, json=False)
    log.info("test.forced_console", answer=42)
    assert json_lines(terminal)[0]["event"] == "test.forced_json"
    console = pipe.getvalue()
    assert "test.forced_console" in console and "answer=42" in console
    assert "\x1b[" not in console  # no colours off a terminal


def test_debug_is_dropped_by_default_and_shown_at_debug() -> None:
    out = io.StringIO()
    configure_logging(stream=out)
    log.debug("test.hidden")
    log.info("test.shown")
    configure_logging(stream=out, level="DEBUG")
    log.debug("test.debug_shown")
    assert [line["event"] for line in json_lines(out)] == ["test.shown", "test.debug_shown"]


def test_warning_level_drops_info() -> None:
    out = io.StringIO()
    configure_logging(stream=out, level="warning")
    log.info("test.info")
    log.warning("test.warning")
    assert [line["event"] for line in json_lines(out)] == ["test.warning"]


def test_an_unknown_level_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown log level 'verbose'.*debug, info, warning"):
        configure_logging(level="verbose", stream=io.StringIO())


def test_calling_twice_replaces_the_configuration() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging(stream=first)
    configure_logging(stream=second)
    log.info("test.once")
    assert first.getvalue() == ""
    assert [line["event"] for line in json_lines(second)] == ["test.once"]
    assert len(logging.getLogger(ROOT_LOGGER).handlers) == 2  # the NullHandler and ours


def test_default_stream_follows_sys_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging()
    log.info("test.stderr")
    assert json.loads(capsys.readouterr().err)["event"] == "test.stderr"


def test_a_hosts_handler_still_sees_the_lines(caplog: pytest.LogCaptureFixture) -> None:
    configure_logging(stream=io.StringIO())  # the runtime logger propagates as before
    log.debug("test.filtered")
    log.info("test.captured", answer=1)
    assert [(r.llmrt_event, r.llmrt_fields) for r in caplog.records] == [
        ("test.captured", {"answer": 1})
    ]


# --- other libraries' loggers (uvicorn), when an entry point routes them ---------------


def route_uvicorn(out: io.StringIO) -> None:
    """What ``runtime.serve`` does: uvicorn's loggers on the handler configure returns."""
    handler = configure_logging(stream=out)
    logging.getLogger("uvicorn").addHandler(handler)
    logging.getLogger("uvicorn").setLevel(logging.INFO)


def test_stdlib_logs_share_the_renderer_and_redaction() -> None:
    out = io.StringIO()
    route_uvicorn(out)
    logging.getLogger("uvicorn.access").info('127.0.0.1 - "GET /v1/models?key=%s" 200', "k123456")
    logging.getLogger("uvicorn.error").debug("hidden at info")
    [line] = json_lines(out)
    assert line["logger"] == "uvicorn.access" and line["level"] == "info"
    assert "k123456" not in line["event"] and "key=[redacted]" in line["event"]


def test_stdlib_exceptions_are_formatted_and_redacted() -> None:
    out = io.StringIO()
    route_uvicorn(out)
    try:
        raise ValueError("upstream echoed Bearer qq-778899")
    except ValueError:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    [line] = json_lines(out)
    assert line["level"] == "error" and "ValueError" in line["exception"]
    assert "qq-778899" not in out.getvalue()


# --- redaction -------------------------------------------------------------------------


def test_secrets_are_redacted_by_name_and_by_value() -> None:
    out = io.StringIO()
    configure_logging(stream=out)
    log.info(
        "test.secrets",
        api_key="sk-live-123456",
        headers={"Authorization": "Bearer abcdef", "Accept": "json"},
        url="https://user:hunter2pass@example.com/v1?api_key=qwerty123",
        note="upstream said: Incorrect API key provided: sk-abc123xyz",
    )
    raw = out.getvalue()
    for secret in ("sk-live-123456", "abcdef", "hunter2pass", "qwerty123", "abc123xyz"):
        assert secret not in raw
    [line] = json_lines(out)
    assert line["api_key"] == "[redacted]" and line["headers"]["Accept"] == "json"
    assert line["url"] == "https://user:[redacted]@example.com/v1?api_key=[redacted]"


def test_secrets_in_exceptions_and_object_reprs_are_redacted() -> None:
    out = io.StringIO()
    configure_logging(stream=out)

    class Leaky:
        def __repr__(self) -> str:
            return "Leaky(token=tok-998877)"

    try:
        raise RuntimeError("401 from https://api.example.com with Bearer zz-445566")
    except RuntimeError:
        log.error("test.failed", client=Leaky(), exc_info=True)
    raw = out.getvalue()
    assert "zz-445566" not in raw and "tok-998877" not in raw
    [line] = json_lines(out)
    assert "RuntimeError" in line["exception"] and "Bearer [redacted]" in line["exception"]


def test_body_fields_are_dropped_unless_opted_in() -> None:
    dropped, kept = io.StringIO(), io.StringIO()
    configure_logging(stream=dropped)
    log.info("test.body", prompt="tell me a secret", messages=[{"content": "hi"}], chars=16)
    configure_logging(stream=kept, log_bodies=True)
    log.info("test.body", prompt="tell me a secret", completion="Bearer abcdefgh")
    [without] = json_lines(dropped)
    [with_bodies] = json_lines(kept)
    assert "prompt" not in without and "messages" not in without and without["chars"] == 16
    assert with_bodies["prompt"] == "tell me a secret"
    assert with_bodies["completion"] == "Bearer [redacted]"


def test_the_processors_can_be_used_on_their_own() -> None:
    line = {"event": "x", "token": "abc", "prompt": "p", "detail": "?key=zzz"}
    assert redact_secrets(None, "info", dict(line)) == {
        "event": "x", "token": "[redacted]", "detail": "?key=[redacted]",
    }  # fmt: skip
    assert make_redactor(log_bodies=True)(None, "info", dict(line))["prompt"] == "p"


# --- the canonical request line, over a real Runtime ------------------------------------


def request_lines(out: io.StringIO) -> list[dict[str, Any]]:
    return [line for line in json_lines(out) if line["event"] == "runtime.request"]


@contextlib.asynccontextmanager
async def logged_runtime(cfg: Any, out: io.StringIO) -> Any:
    configure_logging(stream=out)
    async with Runtime.from_config(cfg) as rt:
        undo = log_requests(rt)
        try:
            yield rt
        finally:
            undo()


async def test_one_line_for_a_success(tmp_path: Path, servers: Servers) -> None:
    a, _ = servers
    out = io.StringIO()
    cfg = config(tmp_path, {"a": a}, {"llama3": ("a",)})
    async with logged_runtime(cfg, out) as rt:
        reply = await rt.chat(MESSAGES, model="llama3")
        await eventually(lambda: len(request_lines(out)) == 1)
    [line] = request_lines(out)
    assert line["level"] == "info" and line["request_id"] == reply.request_id
    assert line["outcome"] == "succeeded" and line["model"] == "llama3"
    assert (line["answered_model"], line["answered_endpoint"]) == ("llama3", "a")
    assert line["attempts"] == 1 and line["fallbacks"] == 0 and line["stream"] is False
    assert line["latency_s"] >= 0 and line["completion_tokens"] > 0
    assert "hello there" not in out.getvalue()  # the prompt never reaches a log line


async def test_one_line_for_a_fallback(tmp_path: Path, servers: Servers) -> None:
    a, b = servers
    a.set_fault(Fault(kind="http_error", status=500), model="llama3")
    out = io.StringIO()
    cfg = config(tmp_path, {"a": a, "b": b}, {"llama3": ("a",), "qwen": ("b",)},
                 roles={"coder": ("llama3", "qwen")})  # fmt: skip
    async with logged_runtime(cfg, out) as rt:
        reply = await rt.chat(MESSAGES, role="coder")
        await eventually(lambda: len(request_lines(out)) == 1)
    [line] = request_lines(out)
    assert line["outcome"] == "succeeded" and line["role"] == "coder"
    assert line["primary"] == "llama3" and line["answered_model"] == "qwen"
    assert line["fallbacks"] == 1 and line["fallback_chain"] == "llama3->qwen"
    assert line["failures"] and set(line["failures"]) == {"server_error"}
    assert line["attempts"] == len(reply.attempts) == len(line["failures"]) + 1


async def test_one_warning_line_for_a_failure(tmp_path: Path, servers: Servers) -> None:
    a, _ = servers
    a.set_fault(Fault(kind="http_error", status=500), model="llama3")
    out = io.StringIO()
    cfg = config(tmp_path, {"a": a}, {"llama3": ("a",)})
    async with logged_runtime(cfg, out) as rt:
        with pytest.raises(Exception, match="llama3@a"):
            await rt.chat(MESSAGES, model="llama3")
        await eventually(lambda: len(request_lines(out)) == 1)
    [line] = request_lines(out)
    assert line["level"] == "warning" and line["outcome"] == "failed"
    assert line["error_type"] == "AllCandidatesFailed" and "llama3@a" in line["error"]
    assert set(line["failures"]) == {"server_error"} and "answered_model" not in line


async def test_one_line_for_a_cancelled_stream(tmp_path: Path, servers: Servers) -> None:
    a, _ = servers
    a.set_fault(Fault(kind="slow_trickle", delay=0.05), model="llama3")
    out = io.StringIO()
    cfg = config(tmp_path, {"a": a}, {"llama3": ("a",)})
    async with logged_runtime(cfg, out) as rt:
        stream = rt.stream(MESSAGES, model="llama3")
        await anext(stream)
        await stream.aclose()
        await eventually(lambda: len(request_lines(out)) == 1)
    [line] = request_lines(out)
    assert line["level"] == "info" and line["outcome"] == "cancelled"
    assert line["stream"] is True and line["attempts"] == 1


async def test_one_warning_line_for_an_interrupted_stream(tmp_path: Path, servers: Servers) -> None:
    a, _ = servers
    a.set_fault(Fault(kind="error_in_stream", after_chunks=2), model="llama3")
    out = io.StringIO()
    cfg = config(tmp_path, {"a": a}, {"llama3": ("a",)})
    async with logged_runtime(cfg, out) as rt:
        with pytest.raises(StreamBroken):
            async for _ in rt.stream(MESSAGES, model="llama3"):
                pass
        await eventually(lambda: len(request_lines(out)) == 1)
    [line] = request_lines(out)
    assert line["level"] == "warning" and line["outcome"] == "interrupted"
    assert line["error_type"] == "StreamBroken" and line["failures"] == ["server_error"]


async def test_undo_stops_the_lines(tmp_path: Path, servers: Servers) -> None:
    a, _ = servers
    out = io.StringIO()
    cfg = config(tmp_path, {"a": a}, {"llama3": ("a",)})
    configure_logging(stream=out)
    async with Runtime.from_config(cfg) as rt:
        undo = log_requests(rt)
        await rt.chat(MESSAGES, model="llama3")
        await eventually(lambda: len(request_lines(out)) == 1)
        undo()
        await rt.chat(MESSAGES, model="llama3")
        await rt.flush_events()
        await asyncio.sleep(0)  # one loop turn: a callback still registered would run now
    assert len(request_lines(out)) == 1
