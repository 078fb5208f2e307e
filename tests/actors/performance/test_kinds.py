"""Client-chosen task kinds are bounded: configured kinds kept, a few others, then ``other``."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.performance import (
    MAX_OTHER_KINDS,
    OTHER_KIND,
    KindFold,
    PerformanceState,
    fold_kind,
    performance_summary,
)
from tests.actors.performance._events import request

CONFIGURED = ("code", "gen", "default")


def test_the_first_kinds_are_admitted_and_later_ones_fold_into_other() -> None:
    kinds = KindFold(CONFIGURED, limit=3)
    assert [kinds.fold(k) for k in ("a", "b", "a", "c", "d", "e")] == [
        "a", "b", "a", "c", OTHER_KIND, OTHER_KIND,
    ]  # fmt: skip
    assert kinds.admitted == {"a", "b", "c"}
    assert kinds.fold("b") == "b"  # an admitted kind stays itself


def test_configured_kinds_are_never_folded_even_when_the_bound_is_reached() -> None:
    kinds = KindFold(CONFIGURED, limit=2)
    for i in range(100):
        kinds.fold(f"k{i}")
    assert [kinds.fold(k) for k in CONFIGURED] == list(CONFIGURED)
    assert kinds.fold(OTHER_KIND) == OTHER_KIND and kinds.admitted == {"k0", "k1"}


def test_seeding_keeps_what_earlier_runs_admitted_and_leaves_no_new_room() -> None:
    kinds = KindFold(CONFIGURED, limit=2)
    kinds.seed(["old1", "old2", "old3", "code"])  # beyond the limit: already in the log
    assert kinds.seeded and kinds.admitted == {"old1", "old2", "old3"}
    assert kinds.fold("old3") == "old3" and kinds.fold("new") == OTHER_KIND


def test_a_negative_limit_is_refused() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        KindFold(CONFIGURED, limit=-1)


@given(st.lists(st.text(max_size=8), max_size=200), st.integers(0, 10))
def test_the_fold_never_admits_more_than_the_limit(asked: list[str], limit: int) -> None:
    kinds = KindFold(CONFIGURED, limit=limit)
    folded = {kinds.fold(k) for k in asked}
    assert len(kinds.admitted) <= limit
    assert folded <= kinds.admitted | set(CONFIGURED) | {OTHER_KIND}
    for k in asked:  # the pure rule agrees with the shell
        assert fold_kind(k, kinds.configured, kinds.admitted, limit) == kinds.fold(k)


def test_twenty_thousand_client_kinds_keep_the_windows_and_their_summary_bounded() -> None:
    kinds = KindFold(CONFIGURED)
    state = PerformanceState.empty(window=10)
    for i in range(20_000):
        state = request(state, f"r{i}", "llama3@a", 0.5, kinds.fold(f"client-kind-{i}"))
    state = request(state, "configured", "llama3@a", 0.5, kinds.fold("code"))
    assert set(state.started) == {f"client-kind-{i}" for i in range(MAX_OTHER_KINDS)} | {
        OTHER_KIND,
        "code",
    }
    assert len(state.models) == len(state.kind_deployments) == MAX_OTHER_KINDS + 2
    assert state.started[OTHER_KIND] == 20_000 - MAX_OTHER_KINDS
    body = msgspec.json.encode(performance_summary(state))
    assert len(body) < 100_000, len(body)  # was 12.8 MB, growing with every new kind
