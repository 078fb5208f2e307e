"""Keeps the event log benchmark runnable: ``--quick`` mode end to end (no timing checks)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_eventlog_benchmark_runs_in_quick_mode() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tests.bench.eventlog", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    verdicts = [line for line in done.stdout.splitlines() if "target" in line]
    assert len(verdicts) == 3, done.stdout
    assert all(line.rstrip().endswith(("PASS", "MISS")) for line in verdicts)
