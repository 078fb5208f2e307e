"""``python -m runtime.admin``: through a running serve, and straight to the log without one.

``main`` runs its own event loop (``asyncio.run``), so the tests call it in a thread
while the facade and the chaos backends keep running on the test's loop.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Mapping
from pathlib import Path

from events import HealthReset
from runtime import Runtime
from runtime.admin import main
from runtime.testing import ChaosServer, Fault
from tests.runtime._support import MESSAGES, read_events
from tests.runtime.serve._support import KEY, facade
from tests.runtime.serve.test_admin_routes import LONG_QUARANTINE, quarantine

Servers = tuple[ChaosServer, ChaosServer]
KEY_ENV = {"ADMIN_TEST_KEY": KEY}


async def admin(*argv: str, environ: Mapping[str, str] | None = None) -> tuple[int, str, str]:
    """Run the command in a thread; (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    status = await asyncio.to_thread(
        main, list(argv), stdout=out, stderr=err, environ=dict(environ or {})
    )
    return status, out.getvalue(), err.getvalue()


def one_error_line(err: str) -> str:
    """The single ``error: ...`` line of a failed command (no traceback)."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


def write_config(tmp_path: Path, servers: Servers) -> Path:
    a, b = servers
    path = tmp_path / "llm.yaml"
    path.write_text(
        f"""
event_log:
  path: {tmp_path / "events.sqlite3"}
endpoints:
  - name: a
    url: {a.url}
  - name: b
    url: {b.url}
models:
  - name: llama3
    deployments: [a, b]
health:
  check_interval_seconds: 0
  failure_threshold: 3
  quarantine_seconds: 600
  min_calls: 10
""",
        encoding="utf-8",
    )
    return path


async def quarantined_then_stopped(path: Path, a: ChaosServer) -> None:
    """Quarantine llama3@a in a runtime on ``path``'s config, then close that runtime."""
    a.set_fault(Fault(kind="http_error", status=500), model="llama3")
    async with Runtime.from_config(path) as rt:
        await quarantine(rt, "llama3@a")
    a.clear_faults()


async def test_reset_and_probe_through_a_running_serve(tmp_path: Path, servers: Servers) -> None:
    a, _ = servers
    async with facade(tmp_path, servers, health=LONG_QUARANTINE) as served:
        a.set_fault(Fault(kind="http_error", status=500), model="llama3")
        await quarantine(served.rt, "llama3@a")
        a.clear_faults()
        flags = ["--serve", served.url, "--api-key-env", "ADMIN_TEST_KEY"]
        reset = await admin(
            *flags, "reset-health", "llama3@a", "--reason", "fixed", environ=KEY_ENV
        )
        after_reset = served.rt.health().deployment("llama3@a").status
        probe = await admin(*flags, "probe", "llama3@a", environ=KEY_ENV)
        after_probe = served.rt.health().deployment("llama3@a").status
        as_json = await admin(*flags, "--json", "probe", "a", environ=KEY_ENV)
        wrong_key = await admin(
            *flags, "probe", "llama3", environ={"ADMIN_TEST_KEY": "not-the-key-0123456789"}
        )
        no_key = await admin("--serve", served.url, "probe", "llama3")
        unknown = await admin(*flags, "reset-health", "mistral", environ=KEY_ENV)
        malformed = await admin(*flags, "reset-health", "llama3@", environ=KEY_ENV)
        url = served.url
    gone = await admin(
        "--serve", url, "--api-key-env", "ADMIN_TEST_KEY", "probe", "a", environ=KEY_ENV
    )

    # (stderr is not compared here: the serve's own log lines share this process)
    assert reset[:2] == (0, "llama3@a: quarantined -> unknown (reset)\n")
    assert after_reset == "unknown"
    assert probe[0] == 0 and probe[1] == "llama3@a: ok (unknown -> healthy)\n"
    assert after_probe == "healthy"
    assert as_json[0] == 0 and '"ok": true' in as_json[1] and f'"via": "{url}"' in as_json[1]
    assert wrong_key[0] == 2 and "refused the key (401)" in one_error_line(wrong_key[2])
    assert no_key[0] == 2 and "refused the key (401)" in one_error_line(no_key[2])
    assert unknown[0] == 2 and "unknown target" in one_error_line(unknown[2])
    assert malformed[0] == 2 and "'llama3@'" in one_error_line(malformed[2])
    assert gone[0] == 3 and "cannot reach the serve" in one_error_line(gone[2])
    resets = await read_events(served.log, HealthReset)
    assert [e.event.reason for e in resets if isinstance(e.event, HealthReset)] == ["fixed"]


async def test_reset_without_a_serve_is_seen_by_the_next_start(
    tmp_path: Path, servers: Servers
) -> None:
    a, _ = servers
    path = write_config(tmp_path, servers)
    await quarantined_then_stopped(path, a)

    reset = await admin("--config", str(path), "reset-health", "a", "--reason", "fixed offline")

    assert reset == (0, "llama3@a: quarantined -> unknown (reset)\n", "")
    async with Runtime.from_config(path) as rt:
        status = rt.health().deployment("llama3@a").status
        endpoints = {(await rt.chat(MESSAGES, model="llama3")).endpoint for _ in range(2)}
    assert status == "unknown" and endpoints == {"a", "b"}  # a is in rotation again
    resets = await read_events(tmp_path / "events.sqlite3", HealthReset)
    assert [(e.stream, e.event.reason) for e in resets if isinstance(e.event, HealthReset)] == [
        ("health/llama3@a", "fixed offline")
    ]


async def test_probe_without_a_serve_runs_the_check_and_records_it(
    tmp_path: Path, servers: Servers
) -> None:
    a, _ = servers
    path = write_config(tmp_path, servers)
    await quarantined_then_stopped(path, a)

    probe = await admin("--config", str(path), "probe", "llama3@a")
    await a.stop_listening()
    failed = await admin("--config", str(path), "probe", "llama3@a")
    await a.resume_listening()

    assert probe[:2] == (0, "llama3@a: ok (quarantined -> healthy)\n")
    assert failed[0] == 1 and failed[1].startswith("llama3@a: failed [connection]")
    async with Runtime.from_config(path) as rt:
        status = rt.health().deployment("llama3@a")
    assert status.status == "degraded" and status.last_failure == "connection"


async def test_mistakes_without_a_serve_are_one_line_with_a_documented_status(
    tmp_path: Path, servers: Servers
) -> None:
    path = write_config(tmp_path, servers)
    broken = tmp_path / "broken.yaml"
    broken.write_text("endpoints: [\n", encoding="utf-8")
    cases = {
        "bad config": await admin("--config", str(broken), "reset-health", "a"),
        "unknown target": await admin("--config", str(path), "reset-health", "nothing"),
        "malformed target": await admin("--config", str(path), "probe", "a b"),
        "no config, no serve": await admin("reset-health", "a"),
        "key without serve": await admin(
            "--config", str(path), "--api-key-env", "X", "reset-health", "a"
        ),
        "no log yet": await admin("--config", str(path), "reset-health", "a"),
        "bad url": await admin("--serve", "ftp://host", "probe", "a"),
        "key in url": await admin("--serve", "http://127.0.0.1:1/?key=abc", "probe", "a"),
        "no command": await admin("--config", str(path)),
    }
    statuses = {name: status for name, (status, _, _) in cases.items()}
    assert statuses == {
        "bad config": 2,
        "unknown target": 2,
        "malformed target": 2,
        "no config, no serve": 2,
        "key without serve": 2,
        "no log yet": 3,
        "bad url": 2,
        "key in url": 2,
        "no command": 2,
    }
    for name, (_, out, err) in cases.items():
        assert out == "", name
        line = one_error_line(err)
        assert "abc" not in line  # a key in a URL is never echoed back
    assert str(broken) in cases["bad config"][2]
    assert not (tmp_path / "events.sqlite3").exists()  # no mistake created a log
    status, help_text, _ = await admin("--help")
    assert status == 0 and "exit status:" in help_text and "--api-key-file" in help_text


async def test_offline_probe_of_a_model_checks_each_of_its_deployments(
    tmp_path: Path, servers: Servers
) -> None:
    path = write_config(tmp_path, servers)
    async with Runtime.from_config(path):
        pass  # the log exists; nothing is known about either deployment yet
    probe = await admin("--config", str(path), "probe", "llama3")
    assert probe[:2] == (
        0,
        "llama3@a: ok (unknown -> healthy)\nllama3@b: ok (unknown -> healthy)\n",
    )
