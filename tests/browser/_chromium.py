"""Headless Chromium for the browser tests: Debian's ``chromium`` driven by Playwright.

Playwright's Python package drives the system browser (``executable_path``); its own
browser download (``playwright install``) is never used: it cannot be fetched here, and
Debian's package is what ``.ci/run`` installs. The launch flags are the ones that work on
this kind of machine: headless, no sandbox (tests run as root), no GPU, and no background
networking (the machine has no network beyond loopback; without these flags Chromium
keeps trying to reach Google's hosts).

Without chromium or Playwright the tests are skipped with the reason, except when the
environment variable ``CI`` is ``"true"``: then they fail (CI installs both), as
``tests._postgres`` does for PostgreSQL.

``watch`` collects what a page reports as going wrong -- console messages of type
``error``, uncaught page errors, and any request to a host other than 127.0.0.1 (the
pages must work offline: no CDN, no external URL) -- so a test asserts there were none.
``screenshot`` saves a PNG per page under ``$LLMRT_ARTIFACTS/screenshots`` (default:
``build/artifacts/screenshots`` in the repository, which git ignores).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest

if TYPE_CHECKING:
    from playwright.async_api import Browser, ConsoleMessage, Error, Page, Request

__all__ = [
    "LAUNCH_ARGS",
    "PageProblems",
    "find_chromium",
    "launched",
    "screenshot",
    "screenshots_dir",
    "unavailable",
    "watch",
]

ROOT = Path(__file__).resolve().parents[2]

LAUNCH_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)

_LOCAL = ("http://127.0.0.1:", "data:", "about:")
"""URLs a page may load: the server under test, inline data, the blank page."""
_LAUNCH_TIMEOUT_MS = 120_000.0
"""Generous: a first start on a busy 2-core machine can take several seconds."""


def find_chromium() -> str | None:
    """The system Chromium: ``/usr/bin/chromium``, else ``chromium`` on PATH."""
    if Path("/usr/bin/chromium").is_file():
        return "/usr/bin/chromium"
    return shutil.which("chromium") or shutil.which("chromium-browser")


def unavailable(reason: str) -> NoReturn:
    """Skip the test for ``reason``; under ``CI=true`` fail instead (CI installs both)."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def _chromium_or_skip() -> str:
    executable = find_chromium()
    if executable is None:
        unavailable(
            "Chromium not found (/usr/bin/chromium or chromium on PATH); install Debian's "
            "`chromium` package (`apt-get install chromium`; .ci/run does it)"
        )
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        unavailable(
            "Playwright's Python package is missing; `pip install -e '.[dev]'` installs it "
            "(the browser is the system chromium: never `playwright install`)"
        )
    return executable


@contextlib.asynccontextmanager
async def launched() -> AsyncIterator[Browser]:
    """A headless system Chromium with a fresh profile, closed at the end."""
    executable = _chromium_or_skip()
    from playwright.async_api import async_playwright

    async with async_playwright() as driver:
        browser = await driver.chromium.launch(
            executable_path=executable,
            args=list(LAUNCH_ARGS),
            timeout=_LAUNCH_TIMEOUT_MS,
        )
        try:
            yield browser
        finally:
            await browser.close()


@dataclass
class PageProblems:
    """Console errors and uncaught exceptions a page reported, in order."""

    messages: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            where = message.location.get("url", "")
            self.messages.append(f"console error: {message.text} ({where})")

    def on_page_error(self, error: Error) -> None:
        self.messages.append(f"page error: {error.name}: {error.message}")

    def on_request(self, request: Request) -> None:
        if not request.url.startswith(_LOCAL):
            self.messages.append(f"request to another host: {request.method} {request.url}")

    def assert_none(self) -> None:
        assert not self.messages, "the page reported problems:\n" + "\n".join(self.messages)


def watch(page: Page) -> PageProblems:
    """Start collecting ``page``'s console errors and page errors."""
    problems = PageProblems()
    page.on("console", problems.on_console)
    page.on("pageerror", problems.on_page_error)
    page.on("request", problems.on_request)
    return problems


def screenshots_dir() -> Path:
    """Where screenshots go (created): ``$LLMRT_ARTIFACTS/screenshots`` or
    ``build/artifacts/screenshots`` in the repository."""
    base = os.environ.get("LLMRT_ARTIFACTS")
    directory = Path(base) / "screenshots" if base else ROOT / "build/artifacts/screenshots"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


async def screenshot(page: Page, name: str) -> Path:
    """Save a full-page PNG of ``page`` as ``<name>.png``; its path."""
    path = screenshots_dir() / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path
