"""The command line: help, one-line errors, colour and width, read-only, the real entry point."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import signal
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest

from events import ActorRestarted, SqliteEventLog
from runtime.inspect import main
from runtime.inspect._cli import COMMANDS, style_for
from tests.runtime.inspect._logs import copy_log

pytestmark = pytest.mark.usefixtures("keep_logging")

ROOT = Path(__file__).resolve().parents[3]


class Terminal(io.StringIO):
    """A StringIO that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def run(*argv: str, out: io.StringIO | None = None) -> tuple[int, str, str]:
    stdout, stderr = out if out is not None else io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=stdout, stderr=stderr)
    return code, stdout.getvalue(), stderr.getvalue()


def assert_one_line_error(result: tuple[int, str, str], *fragments: str) -> None:
    code, out, err = result
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_everywhere(command: str | None, demo: tuple[Path, dict[str, str]]) -> None:
    argv = ["--help"] if command is None else [str(demo[0]), command, "--help"]
    code, out, err = run(*argv)
    assert (code, err) == (0, "")
    assert out.startswith("usage: python -m runtime.inspect")
    if command is not None:
        assert f"LOG {command}" in out
        assert run(command, "--help")[1] == out  # without a LOG too


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.sqlite3"
    assert_one_line_error(run(str(missing), "tail"), str(missing), "does not exist")
    assert not missing.exists()  # the viewer never creates a log


def test_text_file(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("this is not a database\n")
    assert_one_line_error(run(str(text)), "not an SQLite database")


def test_truncated_file(demo: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.sqlite3"
    truncated.write_bytes(demo[0].read_bytes()[:5000])
    assert_one_line_error(run(str(truncated), "tail"), str(truncated), "damaged")
    short = tmp_path / "short.sqlite3"
    short.write_bytes(b"SQLite for")
    assert_one_line_error(run(str(short)), "not an SQLite database")


def test_log_from_a_newer_version(demo: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    newer = copy_log(demo[0], tmp_path)
    conn = sqlite3.connect(newer)
    conn.execute("PRAGMA user_version = 99")  # the schema version mechanism
    conn.close()
    assert_one_line_error(run(str(newer), "stats"), "schema version 99", "upgrade")


def test_sqlite_file_that_is_not_an_event_log(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE things (x)")
    conn.close()
    assert_one_line_error(run(str(other), "verify"), "not an event log", "things")


def test_directory_and_empty_file(tmp_path: Path) -> None:
    assert_one_line_error(run(str(tmp_path), "tail"), "is a directory")
    empty = tmp_path / "empty.sqlite3"
    empty.touch()
    assert_one_line_error(run(str(empty)), "empty file")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_unreadable_file(demo: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    locked = copy_log(demo[0], tmp_path)
    locked.chmod(0)
    assert_one_line_error(run(str(locked)), "permission denied")


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        ([], "required: LOG"),
        (["{log}", "frobnicate"], "invalid choice: 'frobnicate'"),
        (["{log}", "tail", "--type", "Nope"], "unknown event type 'Nope'"),
        (["{log}", "tail", "--since", "yesterday"], "--since: cannot read 'yesterday'"),
        (["{log}", "tail", "-n", "0"], "must be >= 1"),
        (["{log}", "tail", "-n", "x"], "invalid int value"),
        (["{log}", "--width", "5"], "--width must be >= 20"),
        (["{log}", "state", "--window", "0"], "--window must be >= 1"),
        (["{log}", "explain", "no-such-request"], "no request 'no-such-request'"),
        (["{log}", "explain"], "REQUEST_ID"),
    ],
)
def test_usage_mistakes_are_one_line(
    argv: list[str], fragment: str, demo: tuple[Path, dict[str, str]]
) -> None:
    assert_one_line_error(run(*[a.format(log=demo[0]) for a in argv]), fragment)


def test_no_colour_when_piped_and_colour_when_asked(demo: tuple[Path, dict[str, str]]) -> None:
    log = str(demo[0])
    for command in (["tail"], ["verify"], ["stats"]):
        assert "\x1b[" not in run(log, *command)[1]
        assert "\x1b[" in run(log, "--color", "always", *command)[1]
        assert "\x1b[" in run(log, *command, "--color", "always")[1]  # after the command too
    assert "\x1b[" in run(log, "tail", out=Terminal())[1]
    assert "\x1b[" not in run(log, "tail", "--color", "never", out=Terminal())[1]


def test_no_color_environment_variable(
    demo: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in run(str(demo[0]), "tail", out=Terminal())[1]
    assert "\x1b[" in run(str(demo[0]), "tail", "--color", "always", out=Terminal())[1]


def test_width_on_a_terminal_and_no_truncation_when_piped(
    demo: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "90")
    log = str(demo[0])
    code, text, _ = run(log, "tail", "--all", "--color", "never", out=Terminal())
    assert code == 0 and max(len(line) for line in text.splitlines()) <= 90
    narrow = run(log, "tail", "--all", "--width", "70")[1]
    assert max(len(line) for line in narrow.splitlines()) <= 70
    piped = run(log, "tail", "--all")[1]
    assert "check its logs" in piped and "…" not in piped  # whole messages when piped
    assert style_for(io.StringIO()).width > 10_000


def test_json_before_or_after_the_command(demo: tuple[Path, dict[str, str]]) -> None:
    before = run(str(demo[0]), "--json", "stats")[1]
    after = run(str(demo[0]), "stats", "--json")[1]
    assert before == after and json.loads(before)["events"] > 0


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_command_leaves_the_log_unchanged(
    demo: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    path = copy_log(demo[0], tmp_path)
    before = digest(path)
    request = demo[1]["fallback_request"]
    for argv in (
        ["tail", "--all"],
        ["stats"],
        ["verify"],
        ["state"],
        ["explain", request],
        ["timeline"],
        ["stats", "--since", "1d", "--until", "now"],
        ["slow", "--since", "2023-11-14T22:00:00Z"],
        ["failed", "--role", "generator"],
    ):
        assert run(str(path), *argv)[0] == 0, argv
    assert digest(path) == before
    wal = Path(f"{path}-wal")
    assert not wal.exists() or wal.stat().st_size == 0  # nothing was written, not even to WAL


async def test_read_only_log_refuses_writes_and_sees_a_live_writer(
    demo: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    path = copy_log(demo[0], tmp_path)
    async with await SqliteEventLog.open(path) as writer:
        await writer.append("actor/live", [ActorRestarted(actor="live", restart=1, delay=0.0)])
        code, out, _ = await asyncio.to_thread(run, str(path), "stats", "--json")
        assert code == 0 and json.loads(out)["last_position"] == await writer.last_position()
        code, out, _ = await asyncio.to_thread(run, str(path), "verify", "--json")
        assert code == 0 and json.loads(out)["ok"] is True


def test_state_explain_and_timeline_through_the_cli(demo: tuple[Path, dict[str, str]]) -> None:
    log, ids = str(demo[0]), demo[1]
    code, out, err = run(log, "explain", ids["fallback_request"])
    assert (code, err) == (0, "") and ids["fallback_request"] in out and "qwen@a" in out
    code, out, _ = run(log, "explain", ids["fallback_request"], "--json")
    assert code == 0 and json.loads(out)
    code, out, _ = run(log, "state", "--json")
    assert code == 0 and ids["quarantined"] in out
    code, out, _ = run(log, "state", "--at", "50")
    assert code == 0 and "50" in out
    code, out, _ = run(log, "timeline", "llama3")
    assert code == 0 and ids["quarantined"] in out and "qwen@a" not in out


def test_slow_failed_and_a_stats_window_through_the_cli(demo: tuple[Path, dict[str, str]]) -> None:
    log, ids = str(demo[0]), demo[1]
    code, out, err = run(log, "failed", "--width", "300")
    assert (code, err) == (0, "") and ids["failed_request"] in out and "server_error" in out
    code, out, _ = run(log, "slow", "-n", "3", "--json")
    assert code == 0 and len(json.loads(out)["requests"]) == 3
    code, out, _ = run(log, "--json", "stats", "--since", "2000-01-01T00:00:00Z")
    assert code == 0 and json.loads(out)["since"] == "2000-01-01T00:00:00.000Z"
    code, out, _ = run(log, "stats", "--until", "2000-01-01T00:00:00Z")
    assert code == 0 and "0 (none in the window)" in out


def _subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


async def test_the_real_entry_point(demo: tuple[Path, dict[str, str]]) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "runtime.inspect", str(demo[0]), "stats", "--json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=_subprocess_env(),
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    stats: dict[str, Any] = json.loads(out)
    assert process.returncode == 0 and err == b"" and stats["events"] > 0


async def test_ctrl_c_ends_follow_quietly(demo: tuple[Path, dict[str, str]]) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "runtime.inspect", str(demo[0]), "tail", "-n", "1", "--follow",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=_subprocess_env(),
    )  # fmt: skip
    assert process.stdout is not None
    first = await asyncio.wait_for(process.stdout.readline(), 60)  # following now
    process.send_signal(signal.SIGINT)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert b"ActorStopped" in first
    assert process.returncode == 130 and err == b"" and out == b""
