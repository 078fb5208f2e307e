"""Folding many routing events at once: the same state as ``evolve`` one by one, cheaper.

``evolve`` builds new dicts and a new window for every event, which is what a pure fold
of one event must do. The live windows are folded lazily instead (``PerformanceActor``
keeps the events it is told and folds them when the windows are read), so a batch of
events is folded here: the state's dicts are copied once per batch, each window touched
is rebuilt once, and only the samples that stay in it are made (at most ``window`` per
window, found walking the batch backwards). The old state is never mutated.

The result equals the eager fold exactly, dict orders included (a property test checks
it): every rule of ``_logic`` is applied in the same order — a start evicts the oldest
in-flight requests past the cap, a sample counts towards ``seq`` and files under its
request's kind only if the request is in flight at that moment, an end forgets the id.

Pure: no clocks, no randomness, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from actors.performance._logic import REQUEST_FAULTS, PerformanceState, kind_of
from actors.performance._score import Sample, Window, clean
from events._base import Event, UnknownEvent
from events._routing import (
    AttemptFailed,
    AttemptSucceeded,
    RequestCancelled,
    RequestFailed,
    RequestStarted,
    RequestSucceeded,
    StreamInterrupted,
)

__all__ = ["fold_events"]

_Attempt = AttemptSucceeded | AttemptFailed | StreamInterrupted
"""The events that make a sample."""


class _New:
    """One window's part of a batch: the samples that stay in it (newest first), the
    seq of the newest and the index of the batch's first sample for it (key order)."""

    __slots__ = ("events", "first", "seq")

    def __init__(self, event: _Attempt, seq: int, index: int) -> None:
        self.events = [event]
        self.seq = seq
        self.first = index


def fold_events(
    state: PerformanceState, events: Iterable[Event | UnknownEvent]
) -> PerformanceState:
    """Fold ``events`` in order; equal to ``evolve`` applied to each one in turn.

    A forward pass applies the starts and ends (which decide the kind a sample is filed
    under) and lists the samples; a backward pass then keeps, for every window, only the
    newest samples that stay in it, so a long batch makes at most ``window`` samples per
    window."""
    inflight: dict[str, str] | None = None
    started: dict[str, int] | None = None
    taken: list[tuple[_Attempt, str | None]] = []  # a sample's event, its request's kind
    for event in events:
        cls = type(event)
        if cls is AttemptSucceeded:
            assert isinstance(event, AttemptSucceeded)
        elif cls is AttemptFailed or cls is StreamInterrupted:
            assert isinstance(event, AttemptFailed | StreamInterrupted)
            if event.failure in REQUEST_FAULTS:
                continue
        elif cls is RequestStarted:
            assert isinstance(event, RequestStarted)
            if inflight is None:
                inflight, started = dict(state.inflight), dict(state.started)
            assert started is not None
            rid, kind = event.request_id, kind_of(event.kind, event.role)
            inflight.pop(rid, None)  # a repeated id moves to the young end
            inflight[rid] = kind
            while len(inflight) > state.max_inflight:  # oldest first, as ``evolve``
                del inflight[next(iter(inflight))]
            started[kind] = started.get(kind, 0) + 1
            continue
        elif cls is RequestSucceeded or cls is RequestFailed or cls is RequestCancelled:
            assert isinstance(event, RequestSucceeded | RequestFailed | RequestCancelled)
            rid = event.request_id
            if rid in (state.inflight if inflight is None else inflight):
                if inflight is None:
                    inflight, started = dict(state.inflight), dict(state.started)
                del inflight[rid]
            continue
        else:
            continue
        current = state.inflight if inflight is None else inflight
        taken.append((event, current.get(event.request_id)))
    if inflight is None and not taken:
        return state
    changes: dict[str, object] = {"seq": state.seq + len(taken)}
    if inflight is not None:
        changes["inflight"], changes["started"] = inflight, started
    if taken:
        size = state.window
        deployments: dict[str, _New] = {}
        models: dict[str, dict[str, _New]] = {}
        kind_deployments: dict[str, dict[str, _New]] = {}
        firsts: dict[str, int] = {}  # kind -> index of its first sample (key order)
        for index in range(len(taken) - 1, -1, -1):  # newest first
            sampled, filed = taken[index]
            seq = state.seq + index + 1
            deployment = sampled.deployment
            _keep(deployments, deployment, sampled, seq, index, size)
            if filed is not None:
                firsts[filed] = index
                model = deployment.rpartition("@")[0] or deployment  # split at the last "@"
                _keep(models.setdefault(filed, {}), model, sampled, seq, index, size)
                _keep(kind_deployments.setdefault(filed, {}), deployment, sampled, seq, index, size)
        changes["deployments"] = _merged(state.deployments, deployments, size)
        if models:
            kinds = sorted(firsts, key=firsts.__getitem__)
            changes["models"] = _nested(state.models, models, kinds, size)
            changes["kind_deployments"] = _nested(
                state.kind_deployments, kind_deployments, kinds, size
            )
    return msgspec.structs.replace(state, **changes)


def _keep(new: dict[str, _New], key: str, event: _Attempt, seq: int, index: int, size: int) -> None:
    """Note a sample (met newest first) if its window still has room for it."""
    entry = new.get(key)
    if entry is None:
        new[key] = _New(event, seq, index)  # the newest sample of this window: its seq
        return
    entry.first = index
    if len(entry.events) < size:
        entry.events.append(event)


def _sample(event: _Attempt) -> Sample:
    """The sample an attempt's end makes (as ``evolve`` makes it)."""
    if isinstance(event, AttemptSucceeded):
        return Sample(
            ok=True,
            latency_s=clean(event.latency_s),
            ttft_s=clean(event.ttft_s),
            tokens_per_s=clean(event.tokens_per_s),
        )
    return Sample(ok=False)


def _merged(windows: dict[str, Window], new: dict[str, _New], size: int) -> dict[str, Window]:
    """A copy of ``windows`` with the batch's samples added; keys new to it go last, in
    the order of their first sample (as ``evolve`` adds them)."""
    merged = dict(windows)
    for key, entry in sorted(new.items(), key=lambda item: item[1].first):
        samples = tuple(_sample(event) for event in reversed(entry.events))
        old = windows.get(key)
        if old is not None and len(samples) < size:
            samples = (*old.samples[len(samples) - size :], *samples)
        merged[key] = Window(samples=samples, last_seq=entry.seq)
    return merged


def _nested(
    windows: dict[str, dict[str, Window]],
    new: dict[str, dict[str, _New]],
    kinds: list[str],
    size: int,
) -> dict[str, dict[str, Window]]:
    nested = dict(windows)
    for kind in kinds:
        nested[kind] = _merged(windows.get(kind, {}), new[kind], size)
    return nested
