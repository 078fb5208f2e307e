"""Errors leaving the Runtime are ``LLMRuntimeError``s, start-up's event-log ones included."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime import (
    EndpointConfig,
    EventLogConfig,
    InvalidLogFile,
    LLMRuntimeError,
    ModelConfig,
    Runtime,
    RuntimeConfig,
    StorageUnavailable,
)


def config_with_log(path: Path) -> RuntimeConfig:
    """One endpoint nobody listens on (start-up sends no request) and the given log."""
    return RuntimeConfig(
        endpoints=(EndpointConfig(name="a", url="http://127.0.0.1:9"),),
        models=(ModelConfig(name="llama3", deployments=("a",)),),
        event_log=EventLogConfig(path=str(path)),
    )


async def test_start_on_a_text_file_raises_invalid_log_file(tmp_path: Path) -> None:
    log = tmp_path / "events.sqlite3"
    log.write_text("these are my notes, not an event log\n" * 200)
    rt = Runtime.from_config(config_with_log(log))
    with pytest.raises(LLMRuntimeError) as caught:
        await rt.start()
    assert isinstance(caught.value, InvalidLogFile)
    assert str(log) in str(caught.value)
    await rt.aclose()


async def test_start_on_a_directory_raises_a_runtime_error(tmp_path: Path) -> None:
    log = tmp_path / "events.sqlite3"
    config = config_with_log(log)  # the config check refuses a directory: make it after
    log.mkdir()
    rt = Runtime.from_config(config)
    with pytest.raises(LLMRuntimeError) as caught:
        await rt.start()
    assert isinstance(caught.value, InvalidLogFile | StorageUnavailable)
    await rt.aclose()
