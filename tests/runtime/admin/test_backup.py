"""``python -m runtime.admin backup LOG DEST``: a consistent, verified copy of the log.

The why (issue 19): after a SIGKILL of a writer, a copy of the main file alone misses
the events that live only in the ``-wal`` file, while ``backup`` has every one of them.
A backup beside a running writer copies one moment of the log and never blocks it.
"""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from runtime.admin import _backup as backup_module
from runtime.admin import main
from runtime.admin._backup import backup_log
from runtime.inspect import main as inspect_main
from tests._wait import eventually
from tests.events.test_crash import run_and_kill
from tests.runtime.inspect._logs import copy_log, keep_logging, shared_demo_log
from tests.runtime.inspect.test_readonly_mount import mount_ro

__all__ = ["keep_logging"]

ROOT = Path(__file__).resolve().parents[3]


def admin(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), stdout=out, stderr=err, environ={})
    return status, out.getvalue(), err.getvalue()


def one_error_line(err: str, *fragments: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for fragment in fragments:
        assert fragment in lines[0], err


def count(path: Path) -> int:
    """Events in the file at ``path`` as SQLite reads it (0 if it has no events table)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
    except sqlite3.OperationalError:  # an empty main file: no table yet
        return 0
    finally:
        conn.close()


def rows(path: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return list(conn.execute("SELECT * FROM events ORDER BY position"))
    finally:
        conn.close()


@pytest.fixture
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_demo_log(tmp_path_factory)[0]


@pytest.mark.slow
def test_cp_of_the_main_file_loses_wal_events_backup_keeps_them(tmp_path: Path) -> None:
    log = tmp_path / "events.sqlite3"
    attempted, acked = run_and_kill(log, "normal", acks_before_kill=400)
    acked_events = sum(attempted[key] for key in acked)
    assert Path(f"{log}-wal").stat().st_size > 0  # the writer died with commits in its WAL
    copied = tmp_path / "copied" / "events.sqlite3"
    copied.parent.mkdir()
    shutil.copyfile(log, copied)  # what `cp LOG` gives: the main file alone
    assert count(copied) < acked_events

    status, out, err = admin("backup", str(log), str(tmp_path / "backup.sqlite3"))
    assert status == 0, err
    backed_up = count(tmp_path / "backup.sqlite3")
    assert acked_events <= backed_up <= sum(attempted.values())
    assert f"backed up {backed_up} events" in out
    assert not Path(f"{tmp_path / 'backup.sqlite3'}-wal").exists()  # one self-contained file


def wait_until(check: Callable[[], bool], within: float = 60.0) -> None:
    """``tests._wait.eventually`` for a plain thread (the backup's step callback)."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.005)


def last_position(path: Path) -> int:
    if not path.exists():  # the writer has not created it yet
        return 0
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return int(conn.execute("SELECT coalesce(max(position), 0) FROM events").fetchone()[0])
    except sqlite3.OperationalError:  # not created yet
        return 0
    finally:
        conn.close()


@pytest.fixture
def running_writer(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[bytes]]]:
    """A process appending to a log until the test ends (then SIGKILLed)."""
    log = tmp_path / "live.sqlite3"
    writer = subprocess.Popen(
        [sys.executable, "-m", "tests.events._crash_writer", str(log), "normal"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        yield log, writer
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)


@pytest.mark.slow
async def test_backup_beside_a_running_writer(
    tmp_path: Path, running_writer: tuple[Path, subprocess.Popen[bytes]]
) -> None:
    log, writer = running_writer
    await eventually(lambda: last_position(log) >= 200, within=60)
    during: list[int] = []

    def step(done: int, total: int) -> None:
        if not during:  # mid-copy, the snapshot held: the writer still commits
            before = last_position(log)
            wait_until(lambda: last_position(log) > before)
            during.append(last_position(log))

    dest = tmp_path / "backup.sqlite3"
    reply = await backup_log(log, dest, pages=1, step=step)
    assert writer.poll() is None  # it kept running through the backup
    assert reply["pages"] > 1 and during and during[0] > reply["last_position"]
    assert count(dest) == reply["events"] == reply["last_position"]  # gap-free 1..last
    assert last_position(dest) == reply["last_position"]
    assert await asyncio.to_thread(inspect_main, [str(dest), "verify"], stdout=io.StringIO()) == 0


def test_backup_equals_the_log_and_passes_verify(
    demo: Path, tmp_path: Path, keep_logging: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backup_module, "PROGRESS_ABOVE_PAGES", 0)
    dest = tmp_path / "backup.sqlite3"
    status, out, err = admin("backup", str(demo), str(dest))
    assert status == 0, err
    assert rows(dest) == rows(demo)
    assert "backup (pages)" in err  # progress on stderr (one summary line off a terminal)
    assert "verified:" in out
    verify_out = io.StringIO()
    assert inspect_main([str(dest), "verify"], stdout=verify_out, stderr=io.StringIO()) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backup.sqlite3"]  # no leftovers


def test_an_existing_dest_needs_force(demo: Path, tmp_path: Path, keep_logging: None) -> None:
    dest = tmp_path / "backup.sqlite3"
    dest.write_bytes(b"an older backup")
    status, out, err = admin("backup", str(demo), str(dest))
    assert (status, out) == (2, "")
    one_error_line(err, "exists", "--force")
    assert dest.read_bytes() == b"an older backup"
    status, _, err = admin("backup", str(demo), str(dest), "--force")
    assert status == 0, err
    assert rows(dest) == rows(demo)


def test_refusals(demo: Path, tmp_path: Path, keep_logging: None) -> None:
    same = demo.parent / ".." / demo.parent.name / demo.name
    status, _, err = admin("backup", str(demo), str(same), "--force")
    assert status == 2
    one_error_line(err, "is the log itself")
    status, _, err = admin("backup", "postgresql://u:secret@db/llm", str(tmp_path / "b"))
    assert status == 2
    one_error_line(err, "pg_dump")
    assert "secret" not in err
    in_use = tmp_path / "in-use.sqlite3"
    in_use.write_bytes(b"")
    Path(f"{in_use}-wal").write_bytes(b"")
    status, _, err = admin("backup", str(demo), str(in_use), "--force")
    assert status == 2
    one_error_line(err, "in-use.sqlite3-wal", "log in use")
    status, _, err = admin("backup", str(tmp_path / "missing.sqlite3"), str(tmp_path / "b"))
    assert status == 2
    one_error_line(err, "no file")
    not_a_log = tmp_path / "notes.txt"
    not_a_log.write_text("hello\n" * 100)
    status, _, err = admin("backup", str(not_a_log), str(tmp_path / "b"))
    assert status == 3
    one_error_line(err, "cannot back up", "not an SQLite database")
    assert not (tmp_path / "b").exists()


@mount_ro
def test_backup_from_a_read_only_mount(demo: Path, tmp_path: Path) -> None:
    folder = tmp_path / "mount"
    folder.mkdir()
    log = copy_log(demo, folder)
    dest = tmp_path / "backup.sqlite3"
    script = (  # a bind mount made read-only, in a mount namespace of its own
        'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" && '
        'exec "$2" -m runtime.admin backup "$3" "$4"'
    )
    argv = ["sh", "-c", script, "sh", str(folder), sys.executable, str(log), str(dest)]
    done = subprocess.run(
        ["unshare", "-m", *argv], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert rows(dest) == rows(demo)
    assert sorted(p.name for p in folder.iterdir()) == [log.name]  # nothing written beside it
