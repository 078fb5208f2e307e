"""``python -m runtime.serve`` in a subprocess: start, serve, shut down, refuse."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import httpx
import pytest

from events import RequestSucceeded
from runtime.serve import ServeSettingsError
from runtime.serve._cli import parser, settings_from
from runtime.testing import ChaosServer
from tests.runtime._support import read_events
from tests.runtime.serve._support import AUTH, KEY, USER

CHAT = {"model": "gen", "messages": USER, "stream": False}


def write_config(tmp_path: Path, backend_url: str) -> Path:
    path = tmp_path / "llm.yaml"
    path.write_text(
        f"""
event_log:
  path: {tmp_path / "events.sqlite3"}
endpoints:
  - name: local
    url: {backend_url}
models:
  - name: llama3
    deployments: [local]
roles:
  gen: [llama3]
health:
  check_interval_seconds: 0
""",
        encoding="utf-8",
    )
    return path


async def start(*args: str, env: Mapping[str, str] | None = None) -> asyncio.subprocess.Process:
    environ = {k: v for k, v in os.environ.items() if k != "LLMRT_API_KEY"}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "runtime.serve", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**environ, **(env or {})},
    )  # fmt: skip


async def run(*args: str, env: Mapping[str, str] | None = None) -> tuple[int, str, str]:
    proc = await start(*args, env=env)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.fixture
async def backend() -> AsyncIterator[ChaosServer]:
    async with ChaosServer(["llama3"], seed=1) as server:
        yield server


async def serving_url(proc: asyncio.subprocess.Process) -> str:
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
    assert line.startswith("serving on http://127.0.0.1:"), line
    return line.removeprefix("serving on ").strip()


async def test_serves_then_shuts_down_cleanly_on_sigint(
    tmp_path: Path, backend: ChaosServer
) -> None:
    config = write_config(tmp_path, backend.url)
    proc = await start("--config", str(config), "--port", "0", "--log-json",
                       env={"LLMRT_API_KEY": KEY})  # fmt: skip
    try:
        url = await serving_url(proc)
        async with httpx.AsyncClient(base_url=url, headers=AUTH) as http:
            reply = await http.post("/v1/chat/completions", json=CHAT)
            anonymous = await http.get("/health", headers={"Authorization": ""})
            in_url = await http.get(f"/v1/models?api_key={KEY}")
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert reply.status_code == 200 and reply.json()["choices"][0]["message"]["content"]
    assert anonymous.status_code == 401 and in_url.status_code == 400
    assert proc.returncode == 0, err.decode()
    log = err.decode()
    assert '"event": "runtime.request"' in log and '"event": "eventlog.closed"' in log
    assert KEY not in log
    # One line per request at info: the chat's canonical runtime.request line (its
    # access line is debug), an access line for each request the runtime never saw.
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    request_id = reply.headers["x-request-id"]
    about_chat = [line for line in lines if line.get("request_id") == request_id]
    assert [line["event"] for line in about_chat] == ["runtime.request"]
    access = [line for line in lines if line["event"] == "serve.http.request"]
    assert sorted(line["status"] for line in access) == [400, 401]
    [succeeded] = await read_events(tmp_path / "events.sqlite3", RequestSucceeded)
    assert isinstance(succeeded.event, RequestSucceeded)
    assert succeeded.event.request_id == reply.headers["x-request-id"]


async def test_a_key_from_a_file_and_sigterm(tmp_path: Path, backend: ChaosServer) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\n", encoding="utf-8")
    key_file.chmod(0o600)
    config = write_config(tmp_path, backend.url)
    proc = await start("--config", str(config), "--port", "0", "--api-key-file", str(key_file))
    try:
        url = await serving_url(proc)
        async with httpx.AsyncClient(base_url=url) as http:
            keyed = await http.get("/v1/models", headers=AUTH)
            missing = await http.get("/v1/models")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert keyed.status_code == 200 and missing.status_code == 401
    assert proc.returncode == 0 and "eventlog.closed" in err.decode()


async def test_a_bad_config_is_one_line_and_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("endpoints:\n  - name: x\n    url: file:///etc\nmodels: []\n")
    status, out, err = await run("--config", str(config))
    assert status == 2 and out == ""
    assert err.startswith("error: invalid configuration") and err.count("\n") == 1
    assert "endpoints[0].url" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--api-key-env", "NOT_SET_ANYWHERE"], {}, "NOT_SET_ANYWHERE"),
        (["--host", "0.0.0.0"], {}, "refusing to listen on 0.0.0.0 without an API key"),
    ],
    ids=["unset-env", "open-host"],
)
async def test_unsafe_settings_exit_2_before_listening(
    tmp_path: Path, backend: ChaosServer, args: list[str], env: dict[str, str], message: str
) -> None:
    config = write_config(tmp_path, backend.url)
    status, out, err = await run("--config", str(config), "--port", "0", *args, env=env)
    assert status == 2 and "serving on" not in out
    assert err.startswith("error: ") and message in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "environ", "message"),
    [
        ([], {"LLMRT_API_KEY": "short"}, "too short"),
        (["--api-key-env", "MY_KEY"], {"MY_KEY": ""}, "not set or empty"),
        (["--api-key-file", "/nonexistent/key"], {}, "cannot read it"),
        (["--api-key-file", "k", "--api-key-env", "K"], {}, "not both"),
        (["--max-tokens", "0"], {}, "max_tokens_cap"),
        (["--request-timeout", "-1"], {}, "request_timeout"),
        (["--ui-keep", "0"], {}, "ui_keep_s must be a number of seconds > 0, got 0.0"),
        (["--ui-keep", "inf"], {}, "ui_keep_s"),
    ],
)
def test_bad_keys_and_limits_are_refused(
    args: list[str], environ: dict[str, str], message: str
) -> None:
    parsed = parser().parse_args(["--config", "x.yaml", *args])
    with pytest.raises(ServeSettingsError, match=message):
        settings_from(parsed, environ)


def test_the_web_view_keeps_a_day_unless_ui_keep_says_otherwise() -> None:
    defaults = parser().parse_args(["--config", "x.yaml"])
    six_hours = parser().parse_args(["--config", "x.yaml", "--ui-keep", "21600"])
    assert settings_from(defaults, {}).ui_keep_s == 86400.0
    assert settings_from(six_hours, {}).ui_keep_s == 21600.0
    assert "--ui-keep SECONDS" in parser().format_help()
    with pytest.raises(SystemExit):  # not a number: argparse's usage error (exit 2)
        parser().parse_args(["--config", "x.yaml", "--ui-keep", "a day"])


def test_keys_come_from_the_default_variable_or_a_file(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(f"  {KEY}\n", encoding="utf-8")
    defaults = parser().parse_args(["--config", "x.yaml"])
    from_file = parser().parse_args(["--config", "x.yaml", "--api-key-file", str(key_file)])
    assert settings_from(defaults, {}).api_key is None
    assert settings_from(defaults, {"LLMRT_API_KEY": KEY}).api_key == KEY
    assert settings_from(from_file, {}).api_key == KEY


async def test_a_busy_port_exits_1(tmp_path: Path, backend: ChaosServer) -> None:
    config = write_config(tmp_path, backend.url)
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        status, out, err = await run("--config", str(config), "--port", str(port))
    assert status == 1 and "serving on" not in out
    assert f"error: could not listen on 127.0.0.1:{port}" in err
