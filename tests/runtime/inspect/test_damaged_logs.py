"""A corpus of damaged logs: ``verify`` names each problem, and no view ends in a traceback."""

from __future__ import annotations

import io
import json
import random
import sqlite3
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest

from events._snapshot_seal import MAGIC, seal, unseal
from runtime.inspect import main
from tests.runtime.inspect._logs import copy_log, row_payload, set_columns, set_payload, set_type

pytestmark = pytest.mark.usefixtures("keep_logging")

Damage = Callable[[sqlite3.Connection, Path], None]


def typed(position: int, name: object) -> Damage:
    """The event at ``position`` claims type ``name`` (an integer, bytes: damage)."""

    def apply(conn: sqlite3.Connection, path: Path) -> None:
        set_type(conn, position, name)

    return apply


def timestamp(position: int, value: object) -> Damage:
    def apply(conn: sqlite3.Connection, path: Path) -> None:
        set_columns(conn, position, timestamp=value)

    return apply


def flip_payload_bytes(conn: sqlite3.Connection, path: Path) -> None:
    """Flip a byte of 64 stored (packed) payloads, as a bad disk might."""
    rng = random.Random(64)
    rows = conn.execute("SELECT position, payload FROM log_events").fetchall()
    for position, payload in rng.sample(rows, 64):
        data = bytearray(payload)
        data[rng.randrange(len(data))] ^= 0xA5
        set_columns(conn, position, payload=bytes(data))


def payload_number(conn: sqlite3.Connection, path: Path) -> None:
    data = json.loads(row_payload(conn, 8))  # an AttemptSucceeded
    data["latency_s"] = 1e300
    set_payload(conn, 8, json.dumps(data).encode())


def _quota(conn: sqlite3.Connection) -> tuple[int, bytes]:
    row = conn.execute(
        "SELECT position, state FROM snapshots WHERE name = 'runtime.quota.v1'"
    ).fetchone()
    return int(row[0]), bytes(row[1])


def _one_digit_changed(state: bytes) -> bytes:
    body = state[len(MAGIC) + 32 :] if state.startswith(MAGIC) else state
    at = next(i for i, c in enumerate(body) if chr(c).isdigit() and chr(c) != "9")
    changed = body[:at] + bytes([body[at] + 1]) + body[at + 1 :]
    return state[: len(state) - len(body)] + changed


def quota_digit(conn: sqlite3.Connection, path: Path) -> None:
    _, state = _quota(conn)
    conn.execute(
        "UPDATE snapshots SET state = ? WHERE name = 'runtime.quota.v1'",
        (_one_digit_changed(state),),
    )


def quota_resealed(conn: sqlite3.Connection, path: Path) -> None:
    """A wrong state with a valid checksum: only the replay comparison can see it."""
    position, state = _quota(conn)
    inner, _ = unseal("runtime.quota.v1", position, state)
    assert inner is not None
    wrong = _one_digit_changed(inner)
    assert msgspec.json.decode(wrong) != msgspec.json.decode(inner)
    conn.execute(
        "UPDATE snapshots SET state = ? WHERE name = 'runtime.quota.v1'",
        (seal("runtime.quota.v1", position, wrong),),
    )


CORPUS: dict[str, tuple[Damage, str, str]] = {
    # name: (damage, the check verify must fail, a phrase its detail must hold)
    "flipped payload bytes": (flip_payload_bytes, "decoding", "undecodable events"),
    "integer type name": (typed(7, 42), "row shape", "at 7"),
    "bytes type name": (typed(8, b"\x2a\x00"), "row shape", "at 8"),
    "timestamp 1e300": (timestamp(12, 1e300), "timestamps", "at 12"),
    "timestamp -1": (timestamp(3, -1), "timestamps", "at 3"),
    "timestamp text": (timestamp(4, "noon"), "timestamps", "at 4"),
    "payload 1e300": (payload_number, "payload numbers", "at 8"),
    "quota snapshot digit": (quota_digit, "snapshots", "checksum mismatch"),
    "quota snapshot resealed": (quota_resealed, "snapshots", "differs from a replay"),
}


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def damaged_copy(demo: Path, tmp_path: Path, damage: Damage) -> Path:
    path = copy_log(demo, tmp_path)
    conn = sqlite3.connect(path)
    with conn:
        damage(conn, path)
    conn.close()
    return path


@pytest.mark.parametrize("name", list(CORPUS))
def test_verify_names_the_damage(
    name: str, demo: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    damage, check, phrase = CORPUS[name]
    path = damaged_copy(demo[0], tmp_path, damage)
    code, out, _ = run(str(path), "verify", "--json")
    report = json.loads(out)
    checks = {c["check"]: c for c in report["checks"]}
    assert code == 1 and report["ok"] is False, out
    assert checks[check]["status"] == "failed", checks
    assert phrase in checks[check]["detail"]


def test_flipped_bytes_in_the_file_are_found(
    demo: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    path = copy_log(demo[0], tmp_path)
    data = bytearray(path.read_bytes())
    rng = random.Random(7)
    for at in rng.sample(range(4096, len(data)), 64):  # page 1 intact: still "a log"
        data[at] ^= 0xFF
    path.write_bytes(bytes(data))
    code, out, err = run(str(path), "verify")
    assert code == 1 and "FAILED" in out and "Traceback" not in out + err


VIEWS = (("tail", "--all"), ("timeline",), ("state",), ("stats",), ("explain", "REQUEST"))


@pytest.mark.parametrize("name", [*CORPUS, "flipped file bytes"])
def test_no_view_ends_in_a_traceback(
    name: str, demo: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    if name == "flipped file bytes":
        path = copy_log(demo[0], tmp_path)
        data = bytearray(path.read_bytes())
        for at in random.Random(7).sample(range(4096, len(data)), 64):
            data[at] ^= 0xFF
        path.write_bytes(bytes(data))
    else:
        path = damaged_copy(demo[0], tmp_path, CORPUS[name][0])
    request = demo[1]["ok_request"]
    for view in VIEWS:
        argv = [a if a != "REQUEST" else request for a in view]
        for json_flag in ((), ("--json",)):
            code, _, err = run(str(path), *argv, *json_flag)
            assert code in (0, 1, 2), (view, code)
            assert "Traceback" not in err, (view, err)
            if code == 2:  # a clear one-line error, after any warnings logged
                assert err.splitlines()[-1].startswith("error: "), (view, err)
