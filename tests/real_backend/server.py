"""A real llama.cpp server in a subprocess we own, for tests.

``LlamaServer`` runs ``python -m tests.real_backend._launch`` (llama.cpp's HTTP server
from the ``xllamacpp`` wheel) on 127.0.0.1 only, waits until it reports READY and
``GET /v1/models`` answers 200, and can stop it gracefully, kill it with SIGKILL (crash
simulation) and restart it on the same port.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Final

import httpx

HOST: Final = "127.0.0.1"
LAUNCH_MODULE: Final = "tests.real_backend._launch"
_REPO_ROOT: Final = Path(__file__).resolve().parents[2]
_POLL_INTERVAL_S: Final = 0.05
_DEFAULT_STARTUP_TIMEOUT_S: Final = 120.0 if os.environ.get("CI") else 60.0


class LlamaServerError(RuntimeError):
    """The server did not start, or exited early; the message has its stderr tail."""


def find_free_port() -> int:
    """Return a TCP port that is free on 127.0.0.1 right now (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def pid_alive(pid: int) -> bool:
    """True if a process with this PID exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    if not Path("/proc").is_dir():
        return True  # not Linux: trust kill(0)
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False  # exited (and was reaped) in between
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def launcher_children(parent_pid: int | None = None) -> list[int]:
    """PIDs of live ``_launch`` processes whose parent is ``parent_pid`` (default: us).

    Reads /proc directly (Linux); returns [] where /proc is unavailable.
    """
    parent = os.getpid() if parent_pid is None else parent_pid
    found: list[int] = []
    proc = Path("/proc")
    if not proc.is_dir():
        return found
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:  # exited while we looked
            continue
        fields = stat.rsplit(")", 1)[1].split()
        state, ppid = fields[0], int(fields[1])
        if ppid == parent and state != "Z" and LAUNCH_MODULE.encode() in cmdline:
            found.append(int(entry.name))
    return sorted(found)


class LlamaServer:
    """One llama.cpp server subprocess on 127.0.0.1.

    ``start()`` picks a free port on first start (unless ``port`` was given) and keeps
    it, so ``restart()`` after ``kill()`` or ``stop()`` comes back on the same address.
    Every PID ever started is kept in ``pids`` so tests can check none survived.
    """

    def __init__(
        self,
        model: Path,
        *,
        port: int | None = None,
        alias: str = "tiny",
        ctx: int = 256,
        n_predict: int = 16,
        threads: int = 1,
        parallel: int = 1,
        seed: int = 42,
        embedding: bool = False,
        pooling: str | None = None,
        startup_timeout: float = _DEFAULT_STARTUP_TIMEOUT_S,
        stop_grace: float = 10.0,
        log_dir: Path | None = None,
    ) -> None:
        self.model = Path(model)
        self.alias = alias
        self.ctx = ctx
        self.n_predict = n_predict
        self.threads = threads
        self.parallel = parallel
        self.seed = seed
        self.embedding = embedding
        self.pooling = pooling
        self.startup_timeout = startup_timeout
        self.stop_grace = stop_grace
        self._port = port
        self._port_chosen_by_us = port is None
        self._log_dir = log_dir
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._stdout: IO[bytes] | None = None
        self.stderr_path: Path | None = None
        self.stdout_path: Path | None = None
        self.startup_seconds: float | None = None
        self.startup_history: list[float] = []
        self.pids: list[int] = []

    # ------------------------------------------------------------------ properties
    @property
    def port(self) -> int:
        if self._port is None:
            raise LlamaServerError("server has no port yet: call start() first")
        return self._port

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. ``http://127.0.0.1:41234``."""
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise LlamaServerError("server is not running")
        return self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def command(self) -> list[str]:
        """The exact argv used to launch the server."""
        extra: list[str] = ["--embedding"] if self.embedding else []
        if self.pooling is not None:
            extra += ["--pooling", self.pooling]
        return [
            sys.executable,
            "-m",
            LAUNCH_MODULE,
            "--model",
            str(self.model),
            "--port",
            str(self.port),
            "--alias",
            self.alias,
            "--ctx",
            str(self.ctx),
            "--n-predict",
            str(self.n_predict),
            "--threads",
            str(self.threads),
            "--parallel",
            str(self.parallel),
            "--seed",
            str(self.seed),
            *extra,
        ]

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> LlamaServer:
        """Launch the subprocess; block until it printed READY and ``/v1/models`` is 200.

        If the port was picked here (not given) and another process grabbed it between
        the pick and the bind, a new port is picked, up to 3 times, before the first
        successful start; after that the port is kept for ``restart()``.
        """
        if self.running:
            raise LlamaServerError(f"already running (pid {self.pid})")
        for attempt in range(3):
            try:
                return self._start_once()
            except LlamaServerError as exc:
                lost_port_race = "couldn't bind HTTP server socket" in str(exc)
                if not (lost_port_race and self._port_chosen_by_us and attempt < 2):
                    raise
                if self.startup_history:  # it started on this port before: keep it
                    raise
                self._port = None
        raise AssertionError("unreachable")

    def _start_once(self) -> LlamaServer:
        self._reap()
        if self._port is None:
            self._port = find_free_port()
        self._open_logs()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(_REPO_ROOT), env.get("PYTHONPATH", "")) if p
        )
        t0 = time.monotonic()
        self._proc = subprocess.Popen(
            self.command(),
            cwd=_REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._stdout,
            stderr=self._stderr,
        )
        self.pids.append(self._proc.pid)
        try:
            self._wait_ready(t0)
        except BaseException:
            self.kill()
            raise
        self.startup_seconds = time.monotonic() - t0
        self.startup_history.append(self.startup_seconds)
        return self

    def stop(self) -> None:
        """SIGTERM, wait up to ``stop_grace`` seconds, then SIGKILL; always reaps."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(self.stop_grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
        self._reap()

    def kill(self) -> None:
        """SIGKILL the server (crash simulation) and reap it."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        self._reap()

    def restart(self) -> LlamaServer:
        """Stop (if running) and start again on the same port."""
        self.stop()
        return self.start()

    def stderr_tail(self, max_bytes: int = 4000) -> str:
        """The last ``max_bytes`` of the server's stderr (llama.cpp's log)."""
        if self.stderr_path is None or not self.stderr_path.exists():
            return ""
        data = self.stderr_path.read_bytes()
        return data[-max_bytes:].decode("utf-8", "replace")

    # ------------------------------------------------------------------ internals
    def _open_logs(self) -> None:
        self._close_logs()
        prefix = f"llama-server-{self._port}-"
        fd, name = tempfile.mkstemp(prefix=prefix, suffix=".log", dir=self._log_dir)
        self.stderr_path = Path(name)
        self._stderr = os.fdopen(fd, "wb")
        fd, name = tempfile.mkstemp(prefix=prefix, suffix=".out", dir=self._log_dir)
        self.stdout_path = Path(name)
        self._stdout = os.fdopen(fd, "wb")

    def _close_logs(self) -> None:
        for f in (self._stderr, self._stdout):
            if f is not None:
                f.close()
        self._stderr = self._stdout = None

    def _said_ready(self) -> bool:
        """The launcher printed READY: our process bound the port and loaded the model."""
        if self.stdout_path is None:
            return False
        try:
            return self.stdout_path.read_bytes().startswith(b"READY ")
        except OSError:
            return False

    def _wait_ready(self, t0: float) -> None:
        assert self._proc is not None
        deadline = t0 + self.startup_timeout
        url = f"{self.url}/v1/models"
        # Short timeouts: a poll that hangs (say, something else squats on the port and
        # never answers) must not delay the next check of our process.
        timeout = httpx.Timeout(1.0, connect=0.5)
        with httpx.Client(timeout=timeout, trust_env=False) as client:
            while True:
                rc = self._proc.poll()
                if rc is not None:
                    raise LlamaServerError(
                        f"llama server exited with status {rc} before it was ready "
                        f"(port {self.port}); stderr tail:\n{self.stderr_tail()}"
                    )
                # READY first, so a foreign server on the port cannot pass for ours
                if self._said_ready():
                    with contextlib.suppress(httpx.TransportError):
                        if client.get(url).status_code == 200:
                            return
                if time.monotonic() > deadline:
                    raise LlamaServerError(
                        f"llama server not ready after {self.startup_timeout:.0f}s "
                        f"(port {self.port}); stderr tail:\n{self.stderr_tail()}"
                    )
                time.sleep(_POLL_INTERVAL_S)

    def _reap(self) -> None:
        proc = self._proc
        if proc is not None:
            try:
                proc.wait(self.stop_grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            self._proc = None
        self._close_logs()

    # ------------------------------------------------------------------ context manager
    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"pid={self._proc.pid}" if self._proc is not None else "stopped"
        return f"LlamaServer(url=http://{HOST}:{self._port}, {state})"


LlamaServerFactory = Callable[..., LlamaServer]
"""Type of the ``llama_server_factory`` fixture: ``factory(**LlamaServer kwargs)``."""
