"""``python -m runtime.inspect LOG web --port 0`` in a process of its own, for the browser.

``web_view`` starts it, reads the URL it prints on stdout ("web view of LOG at
http://127.0.0.1:PORT/ (Ctrl-C to stop)"), and stops it at the end with SIGINT (its
Ctrl-C), killing it only if it does not exit. Its stderr (progress, log lines) goes to a
file the failure message quotes.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["WebProcess", "web_view"]

ROOT = Path(__file__).resolve().parents[2]
_START_S = 120.0
"""How long the process may take to print its URL (imports and reading the log on a busy
2-core machine); it prints as soon as it listens."""
_URL = re.compile(r"http://127\.0\.0\.1:\d+/\S*")


@dataclass
class WebProcess:
    """The running web view: its base URL (ending in ``/``) and its stderr file."""

    process: asyncio.subprocess.Process
    url: str
    errors: Path

    def tail(self, lines: int = 30) -> str:
        """The last lines it wrote on stderr."""
        return _tail(self.errors, lines)


def _tail(errors: Path, lines: int = 30) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(errors.read_text(errors="replace").splitlines()[-lines:])
    return ""


@contextlib.asynccontextmanager
async def web_view(log: Path, directory: Path, *extra: str) -> AsyncIterator[WebProcess]:
    """Serve ``log`` with ``inspect LOG web --port 0`` (plus ``extra`` options) for the block."""
    errors = directory / "web.stderr"
    with errors.open("ab") as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "runtime.inspect", str(log), "web", "--port", "0", *extra,
            stdout=asyncio.subprocess.PIPE, stderr=sink, cwd=ROOT,
        )  # fmt: skip
    try:
        url = await _read_url(process, errors)
        yield WebProcess(process=process, url=url, errors=errors)
    finally:
        await _stop(process)


async def _read_url(process: asyncio.subprocess.Process, errors: Path) -> str:
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), _START_S)
    except TimeoutError:
        raise AssertionError(
            f"`inspect LOG web` printed no URL in {_START_S:.0f} s\n{_tail(errors)}"
        ) from None
    found = _URL.search(line.decode(errors="replace"))
    if found is None:
        await asyncio.wait_for(process.wait(), _START_S)
        raise AssertionError(
            f"`inspect LOG web` did not print its URL: {line!r} "
            f"(exit {process.returncode})\n{_tail(errors)}"
        )
    url = found.group(0)
    return url if url.endswith("/") else url + "/"


async def _stop(process: asyncio.subprocess.Process) -> None:
    """SIGINT (Ctrl-C) and wait; SIGKILL if it is still there after a minute."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(process.wait(), 60)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
