"""Keeps the Runtime.chat benchmark runnable: ``--quick`` end to end (no timing checks)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_runtime_chat_benchmark_runs_in_quick_mode() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tests.bench.runtime_chat", "--quick", "--in-process"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    verdicts = [line for line in done.stdout.splitlines() if "target" in line]
    assert len(verdicts) == 4, done.stdout
    assert all(line.rstrip().endswith(("PASS", "MISS")) for line in verdicts)
