"""Keeps the log size benchmark runnable: a few requests end to end (no size checks)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_log_size_benchmark_runs_with_a_few_requests() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tests.bench.log_size", "--requests", "20"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    verdicts = [line for line in lines if "target" in line]
    assert len(verdicts) == 1 and verdicts[0].rstrip().endswith(("PASS", "MISS")), done.stdout
    assert any(line.startswith("events/request") for line in lines), done.stdout
    assert any("log_events" in line for line in lines), done.stdout
