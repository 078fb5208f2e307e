"""Keeps the WAL size benchmark runnable: a moment of load (no size or speed checks)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_wal_size_benchmark_runs_for_a_moment() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tests.bench.wal_size", "--quick", "--appenders", "20"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    verdicts = [line for line in lines if "WAL high-water" in line]
    assert len(verdicts) == 2, done.stdout
    assert all(line.rstrip().endswith(("PASS", "MISS")) for line in verdicts), done.stdout
    assert sum("events/s" in line for line in lines) == 2, done.stdout
