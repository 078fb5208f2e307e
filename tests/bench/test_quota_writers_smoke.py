"""Keeps the quota-writers benchmark runnable: ``--quick`` end to end (no timing checks)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_quota_writers_benchmark_runs_in_quick_mode() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tests.bench.quota_writers", "--quick", "--no-postgres"],
        cwd=ROOT, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line.split() for line in done.stdout.splitlines() if line.startswith("sqlite  ")]
    assert [(r[1], r[2]) for r in rows] == [("1", "no"), ("1", "yes"), ("3", "no"), ("3", "yes")]
    assert all(r[3] == str(40 * int(r[1])) for r in rows), done.stdout
    assert "the limit adds" in done.stdout
