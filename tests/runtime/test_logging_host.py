"""The runtime as a guest: silent unless the host asks, redacted, never in the way.

Each test runs a real process: what is printed, and that the process ends, are the
things under test.
"""

from __future__ import annotations

import io
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime import configure_logging

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-hostile-abcdefghij0123456789"

CHAT = """
import asyncio, logging, sys
from runtime import EndpointConfig, EventLogConfig, ModelConfig, RetryConfig, Runtime
from runtime import RuntimeConfig
from runtime.testing import ChaosServer, Fault

KEY = sys.argv[2]
if sys.argv[3] == "host":  # the host's own logging set-up, plain format
    logging.basicConfig(level=logging.DEBUG, format="HOST %(levelname)s %(name)s %(message)s")
elif sys.argv[3] == "configured":  # an entry point's: every line, at debug
    from runtime import configure_logging
    configure_logging(level="debug", json=True)

async def main():
    async with ChaosServer(["llama3"], seed=1) as server:
        echo = f"Incorrect API key provided: {KEY}"
        server.set_fault(Fault(kind="http_error", status=401, message=echo), model="llama3")
        cfg = RuntimeConfig(
            endpoints=(EndpointConfig(name="a", url=server.url, api_key_env="THE_KEY"),),
            models=(ModelConfig(name="llama3", deployments=("a",)),),
            event_log=EventLogConfig(path=sys.argv[1]),
            retry=RetryConfig(backoff_base=0.0, backoff_cap=0.0),
        )
        async with Runtime.from_config(cfg, environ={"THE_KEY": KEY}) as rt:
            for _ in range(int(sys.argv[4])):
                try:
                    await rt.chat([{"role": "user", "content": "hi"}], model="llama3")
                except Exception:
                    pass  # the failure is expected: a 401 logged as a warning

asyncio.run(main())
print("done")
"""


def run_chat(tmp_path: Path, mode: str, chats: int = 1) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CHAT, str(tmp_path / "events.sqlite3"), KEY, mode, str(chats)],
        capture_output=True, text=True, timeout=60, cwd=ROOT, check=False,
    )  # fmt: skip


def test_without_configuration_the_runtime_prints_nothing(tmp_path: Path) -> None:
    done = run_chat(tmp_path, "none")
    assert done.returncode == 0, done.stderr[-2000:]
    assert (done.stdout, done.stderr) == ("done\n", "")


def test_a_hosts_basic_config_shows_the_lines_redacted(tmp_path: Path) -> None:
    done = run_chat(tmp_path, "host")
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stderr.splitlines()
    assert any(line.startswith("HOST WARNING runtime.") and "endpoint.request.failed" in line
               for line in lines), done.stderr  # fmt: skip
    assert any(line.startswith("HOST DEBUG runtime.") for line in lines)
    assert KEY not in done.stderr  # the host's plain formatter prints redacted text


def test_a_closed_stderr_pipe_neither_hangs_nor_complains(tmp_path: Path) -> None:
    """``... 2>&1 >/dev/null | head -1`` at debug level: the reader leaves after a line."""
    argv = [sys.executable, "-c", CHAT, str(tmp_path / "events.sqlite3"), KEY, "configured", "20"]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    try:
        first = proc.stderr.readline()
        proc.stderr.close()  # the reader is gone: every later write gets EPIPE
        out, _ = proc.communicate(timeout=60)  # generous: a hang is the failure
    finally:
        proc.kill()  # no-op once it has exited; ends a hung one
        proc.wait()
    assert first.startswith(b"{") and proc.returncode == 0
    assert out == b"done\n"


# --- configure_logging keeps to its own logger -----------------------------------------


@pytest.fixture
def host_logging() -> Iterator[dict[str, logging.Logger]]:
    """A host's set-up: root, uvicorn and httpx loggers with their own handlers/levels."""
    names = {"root": "", "runtime": "runtime", "uvicorn": "uvicorn", "httpx": "httpx"}
    loggers = {key: logging.getLogger(name) for key, name in names.items()}
    saved = {k: (list(lg.handlers), lg.level, lg.propagate) for k, lg in loggers.items()}
    host = logging.StreamHandler(io.StringIO())
    host.setFormatter(logging.Formatter("%(name)s %(message)s"))
    loggers["root"].addHandler(host)
    loggers["root"].setLevel(logging.ERROR)
    loggers["uvicorn"].setLevel(logging.CRITICAL)
    loggers["httpx"].setLevel(logging.DEBUG)
    yield loggers
    for key, (handlers, level, propagate) in saved.items():
        logger = loggers[key]
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate


def test_configure_logging_touches_only_the_runtime_logger(
    host_logging: dict[str, logging.Logger],
) -> None:
    def state() -> dict[str, object]:
        return {
            key: (list(lg.handlers), lg.level, lg.propagate,
                  [h.formatter for h in lg.handlers])
            for key, lg in host_logging.items() if key != "runtime"
        }  # fmt: skip

    before = state()
    handler = configure_logging(level="debug", stream=io.StringIO())
    configure_logging(level="warning", stream=io.StringIO())  # replaces its handler
    assert state() == before
    runtime_log = host_logging["runtime"]
    assert runtime_log.level == logging.WARNING and handler not in runtime_log.handlers
    assert sum(isinstance(h, logging.NullHandler) for h in runtime_log.handlers) == 1
    assert len(runtime_log.handlers) == 2


class DeadPipe(io.StringIO):
    """A stream whose reader has gone: every write fails as on a closed pipe."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        raise BrokenPipeError(32, "Broken pipe")


def test_the_handler_turns_itself_off_after_a_broken_pipe(
    capsys: pytest.CaptureFixture[str],
) -> None:
    dead = DeadPipe()
    handler = configure_logging(stream=dead)
    log = logging.getLogger("runtime.tests.pipe")
    try:
        for n in range(5):
            log.warning("line %d", n)
    finally:
        logging.getLogger("runtime").removeHandler(handler)
    assert dead.writes == 1 and getattr(handler, "broken", False)
    assert capsys.readouterr().err == ""  # no "--- Logging error ---" traceback
