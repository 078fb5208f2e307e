"""``python -m runtime.serve --loop``: a real server on uvloop, and the refusal without it."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from runtime.serve import ServeSettingsError
from runtime.serve._loop import loop_factory, run_on, running_loop_name
from runtime.testing import ChaosServer
from tests.runtime.serve._support import AUTH, KEY
from tests.runtime.serve.test_cli import CHAT, run, serving_url, start, write_config

uvloop = pytest.importorskip("uvloop")


@pytest.fixture
async def backend() -> AsyncIterator[ChaosServer]:
    async with ChaosServer(["llama3"], seed=1) as server:
        yield server


def _started_line(log: str) -> dict[str, object]:
    lines: list[dict[str, object]] = [
        json.loads(line) for line in log.splitlines() if line.startswith("{")
    ]
    [started] = [line for line in lines if line["event"] == "serve.started"]
    return started


@pytest.mark.slow
@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
async def test_serves_a_chat_on_the_chosen_loop_and_names_it(
    tmp_path: Path, backend: ChaosServer, loop: str
) -> None:
    config = write_config(tmp_path, backend.url)
    proc = await start("--config", str(config), "--port", "0", "--log-json", "--loop", loop,
                       env={"LLMRT_API_KEY": KEY})  # fmt: skip
    try:
        url = await serving_url(proc)
        async with httpx.AsyncClient(base_url=url, headers=AUTH) as http:
            reply = await http.post("/v1/chat/completions", json=CHAT)
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert reply.status_code == 200, reply.text
    assert reply.json()["choices"][0]["message"]["content"]
    assert proc.returncode == 0, err.decode()
    assert _started_line(err.decode())["loop"] == loop


async def test_without_uvloop_installed_it_is_one_line_and_exit_2(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9")
    # A child in which ``import uvloop`` fails, as where the extra is not installed.
    script = (
        "import sys; sys.modules['uvloop'] = None\n"
        "from runtime.serve._cli import main\n"
        f"sys.exit(main(['--config', {str(config)!r}, '--port', '0', '--loop', 'uvloop']))\n"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2
    assert out == b""
    assert err.decode().strip() == (
        "error: --loop uvloop needs the uvloop package, which is not installed: "
        "pip install 'llm-reliability-runtime[uvloop]'"
    )


async def test_an_unknown_loop_is_refused_by_the_command_line(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9")
    status, _, err = await run("--config", str(config), "--loop", "trio")
    assert status == 2 and "invalid choice: 'trio'" in err and "Traceback" not in err


def test_the_factory_runs_a_coroutine_on_the_loop_it_names() -> None:
    async def which() -> str:
        return running_loop_name()

    assert run_on(loop_factory("uvloop"), which()) == "uvloop"
    assert run_on(loop_factory("asyncio"), which()) == "asyncio"
    with pytest.raises(ServeSettingsError, match="choose one of asyncio, uvloop"):
        loop_factory("trio")
