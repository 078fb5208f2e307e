"""``inspect`` on a log it may not write next to (a read-only mount, a 0555 directory).

SQLite needs to create a ``-shm`` file to read a WAL database; where it cannot, the
viewer opens the log as an immutable file and says so on stderr. Root writes into a
0555 directory anyway, so the end-to-end tests skip under root; the views on an
immutable log and the decision (``tests/events/test_sqlite_readonly.py``) run always.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from events import SqliteEventLog
from runtime.inspect import main
from runtime.inspect._open import open_log
from runtime.inspect._range import run_range
from runtime.inspect._render import Style
from runtime.inspect._state import run_state
from tests.runtime.inspect._logs import copy_log

NOTE = "opened read-only as immutable"
VIEWS = ("range", "tail", "state", "stats", "verify")
"""Commands checked on a read-only directory."""
as_root = pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a 0555 directory")
ROOT = Path(__file__).resolve().parents[3]


def _can_mount_read_only() -> bool:
    """Root with ``unshare``: a private mount namespace for a real read-only bind mount."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    with tempfile.TemporaryDirectory() as folder:
        script = 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1"'
        argv = ["unshare", "-m", "sh", "-c", script, "sh", folder]
        probe = subprocess.run(argv, capture_output=True, check=False)
    return probe.returncode == 0


mount_ro = pytest.mark.skipif(
    not _can_mount_read_only(), reason="needs root and unshare -m for a read-only mount"
)


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def locked_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory nobody but root may write to (writable again for the cleanup)."""
    folder = tmp_path / "mount"
    folder.mkdir()
    yield folder
    folder.chmod(0o755)


@as_root
def test_inspect_in_a_read_only_directory(
    demo: tuple[Path, dict[str, str]], locked_dir: Path
) -> None:
    log = copy_log(demo[0], locked_dir)
    expected = run(str(demo[0]), "range", "--json")
    locked_dir.chmod(0o555)
    for command in VIEWS:
        code, out, err = run(str(log), command, "--json")
        assert code == 0, err
        assert err.count("\n") == 1 and NOTE in err and "not seen" in err
        if command == "range":
            assert out.replace(str(log), "LOG") == expected[1].replace(str(demo[0]), "LOG")
    assert sorted(p.name for p in locked_dir.iterdir()) == [log.name]  # nothing created


def on_read_only_mount(folder: Path, log: Path, command: str) -> subprocess.CompletedProcess[str]:
    """``python -m runtime.inspect LOG COMMAND --json`` with ``folder`` mounted read-only."""
    # A bind mount made read-only, in a mount namespace of its own (gone at exit).
    script = (
        'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" && '
        'exec "$2" -m runtime.inspect "$3" "$4" --json'
    )
    argv = ["sh", "-c", script, "sh", str(folder), sys.executable, str(log), command]
    return subprocess.run(
        ["unshare", "-m", *argv], cwd=ROOT, capture_output=True, text=True, check=False
    )


@mount_ro
def test_wal_commits_without_shm_on_a_read_only_mount_are_refused(
    demo: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    folder = tmp_path / "mount"
    folder.mkdir()
    log = copy_log(demo[0], folder)
    Path(f"{log}-wal").write_bytes(b"\0" * 4096)  # commits SQLite could not read without -shm
    done = on_read_only_mount(folder, log, "range")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("error: ") and "-wal holds 4096 bytes" in done.stderr


@mount_ro
def test_inspect_on_a_read_only_mount(demo: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    folder = tmp_path / "mount"
    folder.mkdir()
    log = copy_log(demo[0], folder)
    for command in VIEWS:
        expected = run(str(log), command, "--json")
        for end in ("-wal", "-shm"):  # the shared read may leave empty side files
            Path(f"{log}{end}").unlink(missing_ok=True)
        done = on_read_only_mount(folder, log, command)
        assert done.returncode == 0, done.stderr
        assert done.stderr.count("\n") == 1 and NOTE in done.stderr, done.stderr
        if command not in ("state", "stats"):  # these show the time they ran
            assert done.stdout == expected[1]
    assert sorted(p.name for p in folder.iterdir()) == [log.name]


@as_root
def test_a_read_only_directory_with_wal_commits_is_refused(
    demo: tuple[Path, dict[str, str]], locked_dir: Path
) -> None:
    log = copy_log(demo[0], locked_dir)
    Path(f"{log}-wal").write_bytes(b"\0" * 4096)  # commits SQLite could not read without -shm
    locked_dir.chmod(0o555)
    code, out, err = run(str(log), "range")
    assert code == 2 and out == ""
    assert err.startswith("error: ") and "-wal holds 4096 bytes" in err and "Copy the log" in err


async def test_a_writable_directory_opens_shared_and_says_nothing(
    demo: tuple[Path, dict[str, str]],
) -> None:
    err = io.StringIO()
    async with open_log(demo[0], err=err) as log:
        assert not log.immutable
    assert err.getvalue() == ""


async def test_views_read_an_immutable_log_as_a_shared_one(
    demo: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    log = await asyncio.to_thread(copy_log, demo[0], tmp_path)
    outputs: list[tuple[str, str]] = []
    for immutable in (False, True):
        async with await SqliteEventLog.open_readonly(log, immutable=immutable) as opened:
            state, found = io.StringIO(), io.StringIO()
            await run_range(opened, json=True, style=Style(), out=found)
            await run_state(opened, at=None, json=True, style=Style(), out=state, window=50)
            shown = json.loads(state.getvalue())  # what it read, not when it ran
            health = [(h["deployment"], h["status"]) for h in shown["health"]]
            outputs.append((found.getvalue(), json.dumps([shown["position"], health])))
        await asyncio.to_thread(_remove_side_files, log)
    assert outputs[0] == outputs[1]
    assert '"last_position"' in outputs[1][0]


def _remove_side_files(log: Path) -> None:
    for end in ("-wal", "-shm"):
        Path(f"{log}{end}").unlink(missing_ok=True)
