"""``events.get_logger``: keyword lines on the standard ``logging`` tree, redacted."""

from __future__ import annotations

import logging

import pytest

from events import ROOT_LOGGER, LogLine, get_logger

log = get_logger("tests.events.logger")


def test_loggers_live_under_the_runtime_logger_which_has_a_null_handler() -> None:
    assert log.name == "runtime.tests.events.logger"
    assert get_logger("runtime.serve._app").name == "runtime.serve._app"
    root = logging.getLogger(ROOT_LOGGER)
    assert any(isinstance(h, logging.NullHandler) for h in root.handlers)


def test_str_of_a_line_is_redacted_for_plain_formatters() -> None:
    line = LogLine(
        "endpoint.request.failed",
        {"api_key": "sk-abcdef123456", "error": "echoed Bearer tok-987654321",
         "prompt": "a user's words", "status": 401, "name": "a\x1b[2Jb"},
    )  # fmt: skip
    text = str(line)
    assert text.startswith("endpoint.request.failed api_key=[redacted] error=")
    assert "sk-abcdef123456" not in text and "tok-987654321" not in text
    assert "a user's words" not in text and "status=401" in text
    assert "\x1b" not in text  # control characters are escaped
    assert line.fields["api_key"] == "sk-abcdef123456"  # the raw fields stay available


def test_a_record_carries_redacted_fields_and_its_callers_place(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger=ROOT_LOGGER)
    log.bind(actor="a1").debug("test.bound", token="t0ps3cret")
    [record] = caplog.records
    assert record.llmrt_event == "test.bound"
    assert record.llmrt_fields == {"actor": "a1", "token": "[redacted]"}
    assert record.filename == "test_logger.py" and record.funcName.startswith("test_a_record")
    assert "t0ps3cret" not in caplog.text


def test_an_exception_is_attached_as_redacted_text_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger=ROOT_LOGGER)
    try:
        raise RuntimeError("401 with Authorization: Bearer zz-4455667788")
    except RuntimeError:
        log.error("test.failed", exc_info=True)
    log.error("test.given", exc_info=ValueError("key=abc123456 in a URL"))
    first, second = caplog.records
    assert first.exc_info is None and "RuntimeError" in (first.exc_text or "")
    assert "zz-4455667788" not in caplog.text and "abc123456" not in caplog.text
    assert "ValueError" in (second.exc_text or "") and "Traceback" in caplog.text


def test_a_level_the_host_filters_out_builds_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=ROOT_LOGGER)

    class Loud:
        def __repr__(self) -> str:
            raise AssertionError("rendered although filtered")

    log.info("test.filtered", value=Loud())
    assert caplog.records == []
