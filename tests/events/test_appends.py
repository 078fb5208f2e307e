"""``events._appends``: row keys and the stored events a committed batch adds."""

from __future__ import annotations

from events._appends import KEY_SEPARATOR, row_key, stored_events
from events._errors import ConcurrencyConflict
from events._system import ActorStopped


def stopped(n: int) -> ActorStopped:
    return ActorStopped(actor=f"a{n}", reason="stopped")


def test_row_key_suffixes_rows_after_the_first() -> None:
    assert row_key(None, 3) is None
    assert row_key("k", 0) == "k"
    assert row_key("k", 2) == f"k{KEY_SEPARATOR}2"


def test_stored_events_skip_repeats_and_conflicts() -> None:
    encoded = ("ActorStopped", 1, b"{}")
    appends = [
        (("a", [encoded, encoded], None, "key"), [stopped(1), stopped(2)]),
        (("b", [encoded], 4, None), [stopped(3)]),  # a conflict: wrote nothing
        (("c", [encoded], None, "old"), [stopped(4)]),  # an idempotent repeat
    ]
    outcomes = [(7, 8), ConcurrencyConflict("b", 4, 5), (2,)]
    stored = stored_events(appends, outcomes, [3, 0, 0], 12.5)
    assert [(e.position, e.stream, e.stream_version, e.idempotency_key) for e in stored] == [
        (7, "a", 3, "key"),
        (8, "a", 4, f"key{KEY_SEPARATOR}1"),
    ]
    assert {e.timestamp for e in stored} == {12.5}
    assert [e.event for e in stored] == [stopped(1), stopped(2)]
