"""Start-up on a damaged log: refuse with a clear error, or warn under ``on_damage: warn``;
and never write to a file that is not our log."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import msgspec
import pytest

from events import InvalidLogFile
from runtime import ConfigError, Runtime, RuntimeConfig
from runtime._config import EventLogConfig
from runtime._config_load import load_config
from runtime.serve._cli import serve
from runtime.serve._settings import ServeSettings
from runtime.testing import ChaosServer
from tests._logs import capture_logs
from tests.runtime._support import MESSAGES, config
from tests.runtime.inspect._logs import row_type, set_columns, set_type

Servers = tuple[ChaosServer, ChaosServer]
ROOT = Path(__file__).resolve().parents[2]


def on_damage(cfg: RuntimeConfig, value: str) -> RuntimeConfig:
    return msgspec.structs.replace(
        cfg, event_log=msgspec.structs.replace(cfg.event_log, on_damage=value)
    )


async def written(cfg: RuntimeConfig) -> Path:
    """Run a few requests and close: a log with events and sealed snapshots."""
    async with Runtime.from_config(cfg) as rt:
        for _ in range(3):
            await rt.chat(MESSAGES, model="llama3")
    return Path(cfg.event_log.path)


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def digit_changed(path: Path) -> None:
    conn = sqlite3.connect(path)
    (state,) = conn.execute(
        "SELECT state FROM snapshots WHERE name = 'runtime.quota.v1' ORDER BY position DESC LIMIT 1"
    ).fetchone()
    at = next(i for i in range(38, len(state)) if chr(state[i]) in "012345678")
    tampered = state[:at] + bytes([state[at] + 1]) + state[at + 1 :]
    with conn:
        conn.execute(
            "UPDATE snapshots SET state = ? WHERE name = 'runtime.quota.v1' AND state = ?",
            (tampered, state),
        )
    conn.close()


async def test_a_tampered_snapshot_refuses_the_start(tmp_path: Path, servers: Servers) -> None:
    cfg = config(tmp_path, {"a": servers[0]}, {"llama3": ("a",)})
    path = await written(cfg)
    digit_changed(path)
    with pytest.raises(InvalidLogFile) as refused:
        async with Runtime.from_config(cfg):
            pass
    message = str(refused.value)
    assert "runtime.quota.v1 failed its checksum" in message
    assert f"python -m runtime.inspect {path} verify" in message
    assert "on_damage: warn" in message


async def test_on_damage_warn_starts_after_a_warning(tmp_path: Path, servers: Servers) -> None:
    cfg = config(tmp_path, {"a": servers[0]}, {"llama3": ("a",)})
    path = await written(cfg)
    digit_changed(path)
    with capture_logs() as logs:
        async with Runtime.from_config(on_damage(cfg, "warn")) as rt:
            assert (await rt.chat(MESSAGES, model="llama3")).endpoint == "a"
    damaged = [line for line in logs if line["event"] == "eventlog.damaged"]
    assert len(damaged) == 1 and "runtime.quota.v1" in damaged[0]["problems"]
    assert damaged[0]["log_level"] == "warning"


async def test_a_corrupt_event_near_the_end_refuses_the_start(
    tmp_path: Path, servers: Servers
) -> None:
    cfg = config(tmp_path, {"a": servers[0]}, {"llama3": ("a",)})
    path = await written(cfg)
    with sqlite3.connect(path) as conn:
        (last,) = conn.execute("SELECT max(position) FROM log_events").fetchone()
        kind = row_type(conn, last)
        set_type(conn, last, 42)
    conn.close()
    with pytest.raises(InvalidLogFile, match="1 corrupt events"):
        async with Runtime.from_config(cfg):
            pass
    with sqlite3.connect(path) as conn:
        set_type(conn, last, kind)  # repaired
        set_columns(conn, 2, timestamp=1e300)
    conn.close()
    with pytest.raises(InvalidLogFile, match="1 absurd timestamps"):
        async with Runtime.from_config(cfg):
            pass


async def test_serve_refuses_a_damaged_log(
    tmp_path: Path, servers: Servers, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = config(tmp_path, {"a": servers[0]}, {"llama3": ("a",)})
    path = await written(cfg)
    digit_changed(path)
    assert await serve(Runtime.from_config(cfg), ServeSettings()) == 1
    err = capsys.readouterr().err
    assert "could not start the runtime" in err and "is damaged" in err


async def test_another_apps_database_is_refused_unchanged(tmp_path: Path, servers: Servers) -> None:
    other = tmp_path / "app.db"
    conn = sqlite3.connect(other)
    with conn:
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, total REAL)")
        conn.execute("INSERT INTO orders (total) VALUES (9.5)")
    conn.close()
    before = hashlib.sha256(other.read_bytes()).hexdigest()
    cfg = config(tmp_path, {"a": servers[0]}, {"llama3": ("a",)}, log_name="app.db")
    with pytest.raises(InvalidLogFile, match="not an event log"):
        async with Runtime.from_config(cfg):
            pass
    assert hashlib.sha256(other.read_bytes()).hexdigest() == before
    assert names(tmp_path) == ["app.db"]  # no -wal/-shm left beside it


def test_on_damage_must_be_refuse_or_warn(tmp_path: Path) -> None:
    path = tmp_path / "llm.yaml"
    path.write_text(
        "event_log:\n  on_damage: maybe\n"
        "endpoints:\n  - name: a\n    url: http://127.0.0.1:11434\n"
        "models:\n  - name: llama3\n    deployments: [a]\n"
    )
    with pytest.raises(ConfigError, match=r"event_log\.on_damage: 'maybe' is not one of"):
        load_config(path)
    assert load_config(ROOT / "examples" / "llm.yaml").event_log.on_damage == "refuse"
    assert EventLogConfig().on_damage == "refuse"
