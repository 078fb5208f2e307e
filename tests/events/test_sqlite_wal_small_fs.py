"""A real full disk: the log on a 16 MiB tmpfs, filled up, then given space back.

The child (``python -m tests.events.test_sqlite_wal_small_fs DIR``) runs in a new user and
mount namespace (``unshare -rm``) that mounts the tmpfs on ``DIR``, so no privilege is
needed on the host. It opens a log there, fills the file system with a ballast file,
appends until ``StorageFull``, deletes the ballast (space freed) and, without a restart,
makes 3,000 one-event commits: ~60 MB of WAL frames, more than the file system holds
unless the WAL is checkpointed and reused. Then it reopens the log and appends again.
Where namespaces or tmpfs mounts are not allowed the test skips
(``test_sqlite_wal.py`` covers the same with ``max_page_count``).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from events._codec import EventRegistry
from events._errors import EventLogError, StorageFull
from events._sqlite import SqliteEventLog
from events._system import ActorStopped

ROOT = Path(__file__).resolve().parents[2]
SIZE = "16m"
COMMITS = 3_000
NO_MOUNT = 77
"""The child's exit status when it may not mount a tmpfs (the test skips)."""


def stopped(n: int) -> ActorStopped:
    return ActorStopped(actor=f"a{n}", reason="stopped")


def wal_size(path: Path) -> int:
    wal = Path(f"{path}-wal")
    return wal.stat().st_size if wal.exists() else 0


def fill_disk(ballast: Path) -> int:
    """Write ``ballast`` until the file system is full; the bytes written."""
    written = 0
    chunk = b"\0" * 65_536
    with ballast.open("wb", buffering=0) as file:
        while True:
            try:
                written += file.write(chunk) or 0
            except OSError:
                return written


async def episode(directory: Path) -> dict[str, object]:
    path = directory / "events.sqlite3"
    registry = EventRegistry([ActorStopped])
    report: dict[str, object] = {}
    async with await SqliteEventLog.open(path, registry=registry) as log:
        for i in range(100):
            await log.append(f"before/{i}", [stopped(i)])
        report["ballast"] = fill_disk(directory / "ballast")
        appended = 0
        try:
            for i in range(100_000):
                await log.append(f"full/{i}", [stopped(i)])
                appended += 1
        except StorageFull as exc:
            report["full_error"] = str(exc)
        report["appended_while_filling"] = appended
        (directory / "ballast").unlink()  # space freed
        failed = high = 0
        for i in range(COMMITS):  # no restart: one commit per append
            try:
                await log.append(f"after/{i}", [stopped(i)])
            except StorageFull:
                failed += 1
            high = max(high, wal_size(path))
        report["failed_after_space_freed"] = failed
        report["wal_high_water"] = high
        report["last_position"] = await log.last_position()
    report["wal_bytes_after_close"] = wal_size(path)
    try:
        async with await SqliteEventLog.open(path, registry=registry) as reopened:
            report["reopened_append"] = list(await reopened.append("reopened", [stopped(0)]))
            report["events"] = len([e async for e in reopened.read()])
    except EventLogError as exc:
        report["reopen_error"] = str(exc)
    conn = sqlite3.connect(path)
    try:
        report["integrity"] = conn.execute("PRAGMA integrity_check").fetchone()[0]
    except sqlite3.Error as exc:
        report["integrity"] = str(exc)
    finally:
        conn.close()
    return report


def child(directory: Path) -> int:
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE}", "tmpfs", str(directory)],
        capture_output=True, check=False,
    )  # fmt: skip
    if mounted.returncode != 0:
        print(json.dumps({"skip": mounted.stderr.decode(errors="replace")}))
        return NO_MOUNT
    print(json.dumps(asyncio.run(episode(directory))))
    return 0


@pytest.mark.slow
def test_a_full_file_system_then_freed_space_without_a_restart(tmp_path: Path) -> None:
    if shutil.which("unshare") is None:
        pytest.skip("no unshare(1): cannot mount a small file system without privileges")
    directory = tmp_path / "small"
    directory.mkdir()
    done = subprocess.run(
        ["unshare", "-rm", sys.executable, "-m", "tests.events.test_sqlite_wal_small_fs",
         str(directory)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    if done.returncode == NO_MOUNT or "Operation not permitted" in done.stderr:
        pytest.skip(f"no tmpfs mount in a user namespace here: {done.stdout}{done.stderr}")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    error = str(report.get("full_error"))
    assert "is full" in error and "Free disk space" in error, report
    assert report["failed_after_space_freed"] == 0, report
    assert "reopen_error" not in report, report
    assert report["wal_bytes_after_close"] == 0, report
    appended = report["appended_while_filling"]
    assert isinstance(appended, int)
    assert report["last_position"] == 100 + appended + COMMITS, report
    assert report["reopened_append"] == [100 + appended + COMMITS + 1], report
    assert report["events"] == 100 + appended + COMMITS + 1, report
    assert report["integrity"] == "ok", report


if __name__ == "__main__":
    sys.exit(child(Path(sys.argv[1])))
