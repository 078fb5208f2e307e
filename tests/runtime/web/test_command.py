"""``inspect LOG web``: ``run_web`` serves the pages with a real uvicorn on 127.0.0.1,
prints its URL, stops on cancel (Ctrl-C), and refuses bad input with one clear line."""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import re
import signal
import socket
import sys
from pathlib import Path

import httpx
import pytest

from events import RequestStarted, SqliteEventLog
from runtime.inspect._errors import InspectError
from runtime.inspect.web import add_web_parser, run_web
from tests._wait import eventually
from tests.runtime.inspect._logs import shared_demo_log
from tests.runtime.web._dom import parse

_ROOT = str(Path(__file__).resolve().parents[3])
"""The checkout, for the subprocess's imports."""
_URL = re.compile(r"web view of (.+) at (http://127\.0\.0\.1:(\d+)/) \(Ctrl-C to stop\)\n")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    return shared_demo_log(tmp_path_factory)


def web_args(*argv: str) -> argparse.Namespace:
    """``argv`` parsed by a parser with the ``web`` command, as ``inspect``'s CLI adds it."""
    parser = argparse.ArgumentParser()
    common = argparse.ArgumentParser(add_help=False)
    add_web_parser(parser.add_subparsers(dest="command"), common)
    return parser.parse_args(["web", *argv])


def test_the_command_defaults_to_any_free_port_and_following() -> None:
    args = web_args()
    assert (args.port, args.follow) == (0, True)
    args = web_args("--port", "8123", "--no-follow")
    assert (args.port, args.follow) == (8123, False)


async def _serving(log: Path, args: argparse.Namespace) -> tuple[asyncio.Task[int], str, str]:
    out, err = io.StringIO(), io.StringIO()
    task = asyncio.create_task(run_web(str(log), args, out, err))
    await eventually(lambda: task.done() or _URL.search(out.getvalue()) is not None)
    if task.done():
        raise AssertionError(f"run_web ended: {task.result()} {err.getvalue()}")
    found = _URL.search(out.getvalue())
    assert found is not None
    return task, found.group(1), found.group(2)


async def test_it_serves_every_page_on_loopback_until_cancelled(
    demo: tuple[Path, dict[str, str]],
) -> None:
    path, ids = demo
    task, named, url = await _serving(path, web_args())
    try:
        assert named == str(path)
        async with httpx.AsyncClient(base_url=url) as http:
            for page in ("", "latency", "requests?kind=failed", "quotas", "flow"):
                response = await http.get(page)
                assert response.status_code == 200, page
            doc = parse((await http.get("request/" + ids["fallback_request"])).text)
            assert doc.find("body").get("data-live") == "1"
            assert doc.find("svg", cls="waterfall")
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    port = int(url.rsplit(":", 1)[1].strip("/"))
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=5):
        pass  # nothing listens any more


async def test_no_follow_serves_a_snapshot(demo: tuple[Path, dict[str, str]]) -> None:
    task, _, url = await _serving(demo[0], web_args("--no-follow"))
    try:
        async with httpx.AsyncClient(base_url=url) as http:
            doc = parse((await http.get("")).text)
        assert doc.find("body").get("data-live") == "0"
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_a_port_in_use_is_one_clear_error(demo: tuple[Path, dict[str, str]]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(InspectError, match=f"could not listen on 127.0.0.1:{port}"):
            await run_web(str(demo[0]), web_args("--port", str(port)), io.StringIO(), io.StringIO())


@pytest.mark.parametrize("port", ["-1", "65536"])
async def test_a_port_out_of_range_is_refused(demo: tuple[Path, dict[str, str]], port: str) -> None:
    with pytest.raises(InspectError, match="--port must be between 0 and 65535"):
        await run_web(str(demo[0]), web_args("--port", port), io.StringIO(), io.StringIO())


async def test_a_missing_log_is_refused_before_listening(tmp_path: Path) -> None:
    out = io.StringIO()
    with pytest.raises(InspectError, match="does not exist"):
        await run_web(str(tmp_path / "nope.sqlite3"), web_args(), out, io.StringIO())
    assert out.getvalue() == ""


async def test_the_inspect_command_serves_the_view_until_interrupted(
    demo: tuple[Path, dict[str, str]],
) -> None:
    """``python -m runtime.inspect LOG web --port 0`` as a user runs it: it prints its
    URL, serves the pages, and a Ctrl-C (SIGINT) ends it with exit code 130."""
    env = {**os.environ, "PYTHONPATH": _ROOT}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "runtime.inspect", str(demo[0]), "web", "--port", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        found = _URL.fullmatch(line)
        assert found is not None, line
        async with httpx.AsyncClient(base_url=found.group(2)) as http:
            doc = parse((await http.get("")).text)
            assert doc.find("body").get("data-page") == "overview"
            assert (await http.get("api/position")).json()["position"] > 0
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 60) == 130
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_since_reads_and_shows_only_the_log_from_then(
    demo: tuple[Path, dict[str, str]],
) -> None:
    async with await SqliteEventLog.open_readonly(demo[0]) as log:
        began = {
            e.event.request_id: e.event.at  # type: ignore[attr-defined]
            async for e in log.read(types=[RequestStarted.__name__])
        }
    starts = sorted(began.values())
    middle = starts[len(starts) // 2]
    task, _, url = await _serving(demo[0], web_args("--no-follow", "--since", str(middle)))
    try:
        async with httpx.AsyncClient(base_url=url) as http:
            doc = parse((await http.get("")).text)
            slow = parse((await http.get("requests", params={"kind": "slow"})).text)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert int(doc.find("dd", data_key="requests").text) == sum(1 for s in starts if s >= middle)
    assert "on (older ones not read)" in doc.find("p", cls="meta").text
    listed = [
        row.get("data-request-id") for row in slow.find_all("tr") if row.get("data-request-id")
    ]
    assert listed and all(began[rid] >= middle for rid in listed)


async def test_keep_shows_only_the_last_duration_of_the_log(
    demo: tuple[Path, dict[str, str]],
) -> None:
    """The demo log is years old: a day's window holds none of it."""
    task, _, url = await _serving(demo[0], web_args("--keep", "1d"))
    try:
        async with httpx.AsyncClient(base_url=url) as http:
            doc = parse((await http.get("")).text)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert int(doc.find("dd", data_key="requests").text) == 0
    assert "showing the last 24 h 00 min (older events" in doc.find("p", cls="meta").text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--keep", "0"], "--keep must be a duration > 0"),
        (["--keep=-2h"], "--keep"),
        (["--keep", "a while"], "--keep: cannot read 'a while'"),
        (["--since", "yesterday-ish"], "--since: cannot read"),
    ],
)
async def test_a_bad_since_or_keep_is_refused_before_listening(
    demo: tuple[Path, dict[str, str]], argv: list[str], message: str
) -> None:
    out = io.StringIO()
    with pytest.raises(InspectError, match=re.escape(message)):
        await run_web(str(demo[0]), web_args(*argv), out, io.StringIO())
    assert out.getvalue() == ""
