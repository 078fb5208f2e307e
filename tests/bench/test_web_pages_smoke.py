"""Keeps the web view benchmark runnable: a small log, every page timed (no speed checks)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.bench.web_pages import PAGES

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_web_pages_benchmark_times_every_page_of_a_small_log(tmp_path: Path) -> None:
    log = tmp_path / "bench.sqlite3"
    command = [
        sys.executable, "-m", "tests.bench.web_pages",
        "--events", "5000", "--rounds", "2", "--keep", str(log),
    ]  # fmt: skip
    first = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=240, check=False
    )
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    for name, _ in PAGES:
        row = [line for line in lines if line.startswith(f"{name} ")]
        assert len(row) == 1 and ("PASS" in row[0] or "MISS" in row[0]), (name, first.stdout)
    assert any(line.startswith("index build") and "events/s" in line for line in lines)
    assert "written in" in first.stdout and log.exists()
    again = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=240, check=False
    )
    assert again.returncode == 0, again.stderr
    assert "(reused)" in again.stdout, again.stdout
