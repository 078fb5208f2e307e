"""``python -m runtime.demo``: run as a person would, then check the log holds what it said."""

from __future__ import annotations

import asyncio
import io
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from events import (
    DeploymentProbingStarted,
    DeploymentQuarantined,
    DeploymentRecovered,
    FallbackSwitched,
    QuotaWarningIssued,
    RequestFailed,
    RequestSucceeded,
)
from runtime._demo_output import Narrator
from runtime._demo_phases import run_scenario
from runtime._demo_scenario import FALLBACK, FAST, PRIMARY
from runtime._demo_text import event_line, paint, plural, short_reason, status_line
from tests.runtime._support import read_events

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
ENV.pop("NO_COLOR", None)
DEMO = [sys.executable, "-m", "runtime.demo"]


def run_demo(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DEMO, *args], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=120, check=False
    )


def start_demo(cwd: Path, log: Path) -> subprocess.Popen[str]:
    """The demo running at normal pace in the background, writing ``log``; pipes open."""
    return subprocess.Popen(
        [*DEMO, "--log", str(log)],
        cwd=cwd,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def section(out: str, start: str, end: str) -> str:
    """The text between the first ``start`` and the next ``end`` after it."""
    head = out.split(start, 1)[1]
    return head.split(end, 1)[0]


async def test_the_demo_narrates_what_the_log_then_proves(tmp_path: Path) -> None:
    log = tmp_path / "demo.sqlite3"
    done = run_demo(tmp_path, "--fast", "--log", str(log))
    out = done.stdout
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr == ""  # the runtime's own log lines stay quiet (level error)
    # Plain text off a terminal: no redraws, no colours.
    assert "\r" not in out and "\x1b" not in out

    steady = section(out, "[2/6]", "[3/6]")
    assert f"answered by: {PRIMARY}@a 4, {PRIMARY}@b 4" in steady
    down = section(out, "[3/6]", "[4/6]")
    assert f"! {PRIMARY}@b quarantined for" in down
    assert "10 requests, 10 answered, 0 errors" in down
    fallback = re.search(rf"> request (\w+) fell back from {PRIMARY} to {FALLBACK}", down)
    assert fallback is not None
    request_id = fallback.group(1)
    assert f"+ {PRIMARY}@b recovered" in section(out, "[4/6]", "[5/6]")
    assert f"$ quota warning: model:{FALLBACK}.requests at 8 of 10" in out
    summary = section(out, "[6/6]", "$ python -m runtime.inspect")
    assert re.search(r"\d+ requests sent, (\d+) answered, 0 errors seen by the caller", summary)
    assert "1 fallback" in summary and "1 quota warning" in summary

    # runtime.inspect's views of the same log, printed by the demo.
    state = section(out, "runtime.inspect demo.sqlite3 state\n", "$ python -m runtime.inspect")
    assert "Health per deployment" in state and f"{PRIMARY}@b" in state
    explain = out.split(f"runtime.inspect demo.sqlite3 explain {request_id}\n", 1)[1]
    assert f"Request {request_id}" in explain
    assert f"fell back from {PRIMARY} to {FALLBACK}" in explain
    assert f"python -m runtime.inspect demo.sqlite3 explain {request_id}" in explain

    stored = await read_events(log)
    events = [e.event for e in stored]
    assert not [e for e in events if isinstance(e, RequestFailed)]
    switches = [e for e in events if isinstance(e, FallbackSwitched)]
    assert [(s.request_id, s.from_model, s.to_model) for s in switches] == [
        (request_id, PRIMARY, FALLBACK)
    ]
    answered = [e for e in events if isinstance(e, RequestSucceeded)]
    assert {(e.request_id, e.model, e.endpoint) for e in answered} >= {(request_id, FALLBACK, "a")}
    assert f"{len(answered)} answered, 0 errors seen by the caller" in summary
    quarantines = [e for e in events if isinstance(e, DeploymentQuarantined)]
    assert quarantines and {q.deployment for q in quarantines} == {f"{PRIMARY}@b"}
    assert _recovered_from_quarantine(events, f"{PRIMARY}@b")
    warnings = [e for e in events if isinstance(e, QuotaWarningIssued)]
    assert [(w.limit, w.used, w.limit_value) for w in warnings] == [
        (f"model:{FALLBACK}.requests", 8, 10)
    ]


def _recovered_from_quarantine(events: Sequence[object], deployment: str) -> bool:
    """A ``DeploymentRecovered`` of ``deployment`` after one of its quarantines."""
    quarantined = False
    for event in events:
        if isinstance(event, DeploymentQuarantined) and event.deployment == deployment:
            quarantined = True
        elif (
            isinstance(event, DeploymentRecovered)
            and event.deployment == deployment
            and quarantined
            and event.previous in ("probing", "quarantined")
        ):
            return True
    return False


def test_the_default_log_is_replaced_and_named_in_the_current_directory(
    tmp_path: Path,
) -> None:
    old = tmp_path / "runtime-demo.sqlite3"
    old.write_text("an earlier run")
    (tmp_path / "runtime-demo.sqlite3-wal").write_text("stale")
    done = run_demo(tmp_path, "--fast", "--no-color")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "removing runtime-demo.sqlite3 (and its -wal/-shm files) left by an earlier run" in (
        done.stdout
    )
    assert f"event log: runtime-demo.sqlite3 (in {tmp_path.resolve()})\n" in done.stdout
    assert "python -m runtime.inspect runtime-demo.sqlite3 tail" in done.stdout
    assert old.read_bytes().startswith(b"SQLite format 3")


def test_an_existing_log_named_with_log_is_refused_untouched(tmp_path: Path) -> None:
    precious = tmp_path / "events.sqlite3"
    precious.write_text("somebody's log")
    done = run_demo(tmp_path, "--log", str(precious))
    assert done.returncode == 2
    assert done.stderr.startswith("error: --log ") and "the file exists" in done.stderr
    assert "Traceback" not in done.stderr
    assert precious.read_text() == "somebody's log"

    missing = run_demo(tmp_path, "--log", str(tmp_path / "no" / "such" / "dir.sqlite3"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_ctrl_c_stops_cleanly_with_status_130(tmp_path: Path) -> None:
    log = tmp_path / "demo.sqlite3"
    # Normal pace: phase 3 lasts seconds, so the interrupt lands inside it.
    with start_demo(tmp_path, log) as demo:
        assert demo.stdout is not None
        for line in demo.stdout:
            if line.startswith("[3/6]"):
                break
        demo.send_signal(signal.SIGINT)
        rest, errors = demo.communicate(timeout=60)
    assert demo.returncode == 130, errors[-2000:]
    assert "Traceback" not in errors
    assert "interrupted: the backends and the event log were closed" in rest
    assert log.exists() and not Path(f"{log}-wal").exists()  # the log was closed


def test_a_reader_that_goes_away_stops_the_demo_quietly(tmp_path: Path) -> None:
    log = tmp_path / "demo.sqlite3"
    with start_demo(tmp_path, log) as demo:
        assert demo.stdout is not None and demo.stderr is not None
        first = demo.stdout.readline()
        demo.stdout.close()  # like `python -m runtime.demo | head -1`
        errors = demo.stderr.read()
        demo.wait(timeout=60)
    assert first.startswith("runtime demo:")
    assert demo.returncode == 1
    assert "Traceback" not in errors and "BrokenPipeError" not in errors
    assert log.exists() and not Path(f"{log}-wal").exists()  # the log was closed


def _threads() -> set[threading.Thread]:
    # asyncio's default executor (name "asyncio_N", used for address lookups) belongs to
    # the loop and is shut down with it by asyncio.run, not by the demo.
    return {t for t in threading.enumerate() if not t.name.startswith("asyncio_")}


async def test_everything_is_closed_when_the_scenario_returns(tmp_path: Path) -> None:
    threads = _threads()
    text = io.StringIO()
    result = await run_scenario(tmp_path / "demo.sqlite3", FAST, Narrator(text, tty=False))
    assert result.errors == 0 and result.fallback_request is not None
    assert result.sent == sum(result.answered.values())
    # aiosqlite's worker thread ends just after its connection is closed: wait for it.
    for thread in _threads() - threads:
        thread.join(timeout=10)
        assert not thread.is_alive(), f"{thread.name} still running"
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert others == []  # no actor, log writer, server or callback task left running
    assert "[6/6] What happened" in text.getvalue()


def test_a_terminal_status_line_is_redrawn_and_event_lines_go_above_it() -> None:
    text = io.StringIO()
    out = Narrator(text, tty=True, color=False)
    out.status("  steady [----] 1/4")
    out.say("  ! event")
    out.status("  steady [##] 2/4")
    out.end_status()
    out.say("  done")
    shown = text.getvalue()
    assert shown.startswith("\r  steady [----] 1/4")
    assert "\r                   \r  ! event\n  steady [----] 1/4" in shown
    assert shown.endswith("  done\n") and "\x1b" not in shown


def test_off_a_terminal_the_status_line_is_never_written() -> None:
    text = io.StringIO()
    out = Narrator(text, tty=False, color=False)
    out.status("  steady [----] 1/4")
    out.say("  line")
    out.end_status()
    assert text.getvalue() == "  line\n"


def test_event_lines_say_what_happened_and_skip_routine_health() -> None:
    quarantined = DeploymentQuarantined(
        deployment="llama3@b",
        at=100.0,
        until=102.0,
        quarantine_count=2,
        reason="probe failed (last: connection: b (http://127.0.0.1:1): refused)",
    )
    assert event_line(quarantined) == (
        "! llama3@b quarantined for 2.0 s (probe failed, quarantine #2)",
        "yellow",
    )
    assert event_line(DeploymentRecovered(deployment="x@a", at=1.0, previous="probing")) == (
        "+ x@a recovered: back in rotation",
        "green",
    )
    assert event_line(DeploymentRecovered(deployment="x@a", at=1.0, previous="unknown")) is None
    probing = DeploymentProbingStarted(deployment="x@a", at=1.0, probe_round=1)
    assert event_line(probing) is not None
    switch = FallbackSwitched(
        request_id="r1", at=1.0, from_model="big", to_model="small", reason="failure"
    )
    assert event_line(switch) == ("> request r1 fell back from big to small", "cyan")
    warning = QuotaWarningIssued(
        at=1.0, limit="model:small.requests", used=8, limit_value=10, ratio=0.8
    )
    line = event_line(warning)
    assert line is not None and "model:small.requests at 8 of 10 (80%" in line[0]


def test_text_helpers() -> None:
    assert paint("x", "bold+green", color=False) == "x"
    assert paint("x", "bold+green", color=True) == "\x1b[1;32mx\x1b[0m"
    assert paint("x", "nonsense", color=True) == "x"
    assert plural(1, "error") == "1 error" and plural(0, "error") == "0 errors"
    assert plural(2, "recovery", "recoveries") == "2 recoveries"
    assert short_reason("2 consecutive failures (last: x (y))") == "2 consecutive failures"
    line = status_line("steady", 5, 10, {"m@a": 3, "m@b": 2}, 0)
    assert line == "  steady [##########----------] 5/10  m@a 3, m@b 2  0 errors"
    assert "[####################] 12/10" in status_line("wait", 12, 10, {}, 1)
