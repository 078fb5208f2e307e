"""The examples are runnable: each one runs here as a user would run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_example(name: str, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_eventlog_tour_replays_what_happened(tmp_path: Path) -> None:
    log = tmp_path / "tour.sqlite3"
    out = run_example("eventlog_tour.py", str(log))
    assert out.count("backend said 503") == 3  # every 4th of 12 requests fails
    assert "replayed from the log: Summary(replies=9" in out
    replayed = out.split("replayed from the log: ")[1].splitlines()[0]
    reopened = out.split("+ tail -> ")[1].splitlines()[0]
    assert replayed == reopened
    assert log.exists()


def test_quickstart_survives_a_backend_going_down(tmp_path: Path) -> None:
    out = run_example("quickstart.py", str(tmp_path / "quick.sqlite3"))
    assert "round-robin: 6 requests, all answered: {'llama3@a': 3, 'llama3@b': 3}" in out
    assert "b is down: 6 requests, all answered: {'llama3@a': 6}" in out
    assert "! llama3@b quarantined" in out
    assert "+ llama3@b recovered" in out
    after = out.split("b is back:")[1]
    assert "'llama3@b'" in after.splitlines()[0]


def test_agent_runs_a_tool_loop_a_structured_answer_and_embeddings(tmp_path: Path) -> None:
    out = run_example("agent.py", str(tmp_path / "agent.sqlite3"))
    assert "the model called get_weather(" in out and '"city":"Bergen"' in out
    assert "answer: In Bergen it is light rain, 14 C in Bergen." in out
    assert "parsed: {'name': " in out and "2 vectors of 8 dimensions" in out
    received = out.split("what the backend received")[1]
    assert '"num_ctx": 8192' in received and '"tools": ["get_weather"]' in received
    assert '"format": {' in received and '"seed": 42' in received
