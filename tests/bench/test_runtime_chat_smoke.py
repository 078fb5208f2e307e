"""Keeps the Runtime.chat benchmark runnable: ``--quick`` end to end (no timing checks),
and every runtime request of the run read back from its event log."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_runtime_chat_benchmark_runs_in_quick_mode() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tests.bench.runtime_chat", "--quick", "--in-process",
         "--requests", "100", "--concurrency", "1,32", "--markdown"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    verdicts = [line for line in lines if "target" in line]
    # Per mode: 3 targets at c=1 and 3 at c=32; then inline ask, validation, the log.
    assert len(verdicts) == 2 * 6 + 3, done.stdout
    assert all(line.rstrip().endswith(("PASS", "MISS")) for line in verdicts)
    # Not a timing: the log must hold every request's events, however fast they came.
    assert "target 0 events dropped: 0 dropped PASS" in done.stdout
    rows = [line for line in lines if line.startswith(("| plain |", "| stream |"))]
    assert len(rows) == 4, done.stdout
