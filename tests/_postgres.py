"""A throw-away PostgreSQL cluster for tests and benchmarks: ``initdb`` + ``postgres``.

``PostgresCluster`` finds the server binaries (``PATH``, then
``/usr/lib/postgresql/*/bin``), runs ``initdb`` into a temporary directory and starts
``postgres`` on a free port on 127.0.0.1, with its socket in that directory. PostgreSQL
refuses to run as root, so as root both run as an unprivileged user (``postgres`` if it
exists, else ``nobody``) that owns the directory. ``stop()`` asks for a fast shutdown
(SIGINT), waits, and kills only as a last resort.

The pytest fixtures: ``postgres_cluster`` (one per session) and ``postgres_dsn`` (a fresh
database ``test_<n>`` per test). Without the binaries the tests are skipped, except when
the environment variable ``CI`` is ``"true"``: then they fail (CI installs them).
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests._ports import free_port

__all__ = ["PostgresCluster", "find_binaries", "postgres_cluster", "postgres_dsn"]

USER = "llmrt"
"""The cluster's superuser."""
PASSWORD = "test-secret-pw"
"""Its password (TCP connections use scram-sha-256: the URL carries a real password)."""

_START_TIMEOUT = 120.0
"""Generous: initdb and the first start take a few seconds on a busy 2-core machine."""


def find_binaries() -> Path | None:
    """The directory holding ``initdb`` and ``postgres``, or None if not installed."""
    found = shutil.which("initdb")
    candidates = [Path(found).resolve().parent] if found else []
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version, reverse=True)
    candidates += [Path(v) for v in versions]
    for directory in candidates:
        if (directory / "initdb").is_file() and (directory / "postgres").is_file():
            return directory
    return None


def _version(path: str) -> int:
    part = Path(path).parent.name
    return int(part) if part.isdigit() else 0


class PostgresCluster:
    """One throw-away cluster: ``start()``, ``dsn(database)``, ``stop()``."""

    def __init__(self, binaries: Path, settings: dict[str, str] | None = None) -> None:
        self.binaries = binaries
        self.settings = settings or {}
        self.port = 0
        self.directory = Path(tempfile.mkdtemp(prefix="llmrt-pg-"))
        self._process: subprocess.Popen[bytes] | None = None
        self._user: str | None = None
        if os.geteuid() == 0:
            self._user = "postgres" if _user_exists("postgres") else "nobody"

    def dsn(self, database: str = "postgres") -> str:
        """A URL with the password, to connect over TCP."""
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        """initdb, start the server, wait until it accepts connections."""
        data = self.directory / "data"
        pwfile = self.directory / "pwfile"
        pwfile.write_text(PASSWORD + "\n")
        if self._user is not None:
            entry = pwd.getpwnam(self._user)
            os.chown(self.directory, entry.pw_uid, entry.pw_gid)
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        self._run(
            [
                str(self.binaries / "initdb"),
                "-D",
                str(data),
                "-U",
                USER,
                f"--pwfile={pwfile}",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ]
        )
        for attempt in range(3):  # another process may take the free port meanwhile
            self.port = free_port()
            if self._launch(data):
                return
            if attempt == 2:
                raise RuntimeError(f"postgres did not start; see {self.directory / 'log'}")

    def _launch(self, data: Path) -> bool:
        command = [
            str(self.binaries / "postgres"),
            "-D",
            str(data),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-k",
            str(self.directory),
        ]
        for key, value in self.settings.items():
            command += ["-c", f"{key}={value}"]
        log = (self.directory / "log").open("ab")
        self._process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, **self._as_user()
        )
        log.close()
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False
            if self._ready(data):
                return True
            time.sleep(0.05)  # polling for readiness, with a generous deadline
        self.stop()
        raise RuntimeError(f"postgres did not become ready in {_START_TIMEOUT:.0f} s")

    def _ready(self, data: Path) -> bool:
        # postmaster.pid's last line says "ready" once connections are accepted.
        with contextlib.suppress(OSError):
            lines = (data / "postmaster.pid").read_text().splitlines()
            if len(lines) >= 8 and lines[7].strip() == "ready":
                with (
                    contextlib.suppress(OSError),
                    socket.create_connection(("127.0.0.1", self.port), timeout=5),
                ):
                    return True
        return False

    def stop(self) -> None:
        """Fast shutdown (SIGINT), wait; kill as the last resort; remove the directory."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)

    def _run(self, command: list[str]) -> None:
        done = subprocess.run(command, capture_output=True, check=False, **self._as_user())
        if done.returncode != 0:
            output = (done.stdout + done.stderr).decode(errors="replace")
            raise RuntimeError(f"{command[0]} failed ({done.returncode}): {output}")

    def _as_user(self) -> dict[str, object]:
        if self._user is None:
            return {}
        entry = pwd.getpwnam(self._user)
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": [], "cwd": "/"}


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A PostgreSQL server for the whole session (skipped without the binaries)."""
    binaries = find_binaries()
    if binaries is None:
        reason = (
            "PostgreSQL server binaries (initdb, postgres) not found on PATH or in "
            "/usr/lib/postgresql/*/bin; install Debian's `postgresql` package"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    # The data is thrown away: skip the fsyncs so the suite stays fast.
    cluster = PostgresCluster(binaries, {"fsync": "off", "full_page_writes": "off"})
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


_numbers = itertools.count(1)


@pytest.fixture
async def postgres_dsn(postgres_cluster: PostgresCluster) -> AsyncIterator[str]:
    """The URL of a fresh, empty database on the session's cluster."""
    asyncpg = pytest.importorskip("asyncpg")
    name = f"test_{os.getpid()}_{next(_numbers)}"
    admin = await asyncpg.connect(postgres_cluster.dsn())
    try:
        await admin.execute(f"CREATE DATABASE {name} STRATEGY FILE_COPY")
    finally:
        await admin.close()
    yield postgres_cluster.dsn(name)
    admin = await asyncpg.connect(postgres_cluster.dsn())
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()
