"""``fold_ledger`` (the quota projection's batch fold) equals ``evolve`` event by event.

Committed batches hold whole request records (start .. end, as the driver appends
them), which it folds with ``count_request``; around and between them anything else:
records cut short, ones whose request reserved quota, quota events, period starts.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from actors.quota import LedgerState, evolve, fold_ledger
from events import Event, QuotaPeriodStarted, QuotaReserved, RequestStarted
from tests.actors.quota._requests import Req, batch, requests

T0 = 1_700_000_000.0
RIDS = ("r0", "r1", "r2")


def _one_by_one(state: LedgerState, events: list[Event]) -> LedgerState:
    for event in events:
        state = evolve(state, event)
    return state


def _reserved(rid: str) -> list[Event]:
    return [QuotaReserved(at=T0, reservation_id=f"{rid}#1", request_id=rid, model="llama3")]


pieces = st.one_of(
    st.builds(lambda rid, req: list(batch(rid, req, T0)), st.sampled_from(RIDS), requests),
    st.builds(  # a record cut short (or only its end: a start folded earlier)
        lambda rid, req, cut: list(batch(rid, req, T0))[cut:] or list(batch(rid, req, T0)),
        st.sampled_from(RIDS), requests, st.integers(-3, 3),
    ),
    st.builds(_reserved, st.sampled_from(RIDS)),
    st.just([QuotaPeriodStarted(at=T0 + 90_000, period="2023-11-16")]),
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(pieces, max_size=8), st.lists(st.integers(0, 60), max_size=4))
def test_a_batch_fold_equals_evolve_event_by_event(
    parts: list[list[Event]], cuts: list[int]
) -> None:
    events = [event for part in parts for event in part]
    expected = _one_by_one(LedgerState(), events)
    assert fold_ledger(LedgerState(), events) == expected
    # Cut into committed batches anywhere (a record may straddle two).
    state, start = LedgerState(), 0
    for cut in [*sorted(c for c in cuts if c < len(events)), len(events)]:
        state = fold_ledger(state, events[start:cut])
        start = cut
    assert state == expected


def test_a_whole_record_charges_its_request() -> None:
    record = list(batch("r1", Req(model="llama3", endpoint="a", role="gen"), T0))
    assert isinstance(record[0], RequestStarted)
    folded = fold_ledger(LedgerState(), record)
    assert folded == _one_by_one(LedgerState(), record)
    assert folded.settled["global"].requests == 1 and folded.open == {}


def test_a_start_cut_short_then_a_whole_record_of_the_same_request_folds_as_evolve() -> None:
    # Found by the retention property test: the batch fold took the first start's
    # role for the whole run, where ``evolve`` lets the second start replace it.
    cut = list(batch("r1", Req(model="llama3", endpoint="a", role="gen"), T0))[:1]
    whole = list(batch("r1", Req(model="llama3", endpoint="a", role=None), T0))
    events = cut + whole
    folded = fold_ledger(LedgerState(), events)
    assert folded == _one_by_one(LedgerState(), events)
    assert "role:gen" not in folded.settled
