"""The performance tracker's state and its fold over the routing events.

No event of its own exists: the samples are folded from the routing events the router
logs anyway (``events._routing``), so a replay of the log rebuilds exactly the windows
the live process had.

* ``RequestStarted`` remembers ``request_id -> kind`` (``kind_of``: the request's task
  kind, else its role, else ``"default"``) and counts the request for its kind — the
  counter that paces exploration (``actors.performance._order``).
* ``AttemptSucceeded`` adds a success sample (latency, time to first token, tokens/s).
* ``AttemptFailed`` and ``StreamInterrupted`` add a failure sample: it lowers the success
  rate, but its latency is *not* a speed sample (a refused connection is fast). A failure
  the request itself caused (``REQUEST_FAULTS``: the prompt overflows the context) says
  nothing about the candidate and adds no sample.
* ``RequestSucceeded``/``RequestFailed``/``RequestCancelled`` forget the request id.

Every sample goes to three windows: ``(kind, model)``, ``(kind, deployment)`` and the
deployment over all kinds. An attempt whose request is unknown (its ``RequestStarted``
was evicted, or lies before a compacted part of the log) still feeds the all-kinds
deployment window. The in-flight map is capped (``max_inflight``, oldest evicted first),
so replaying a long log whose requests never ended (a crash) stays bounded in memory;
windows are bounded by ``window``, and the maps of windows by the configured kinds,
models and deployments.

Pure: no clocks, no randomness, no I/O.
"""

from __future__ import annotations

import msgspec

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

__all__ = [
    "DEFAULT_KIND",
    "DEFAULT_MAX_INFLIGHT",
    "DEFAULT_WINDOW",
    "PerformanceState",
    "REQUEST_FAULTS",
    "evolve",
    "kind_of",
]

DEFAULT_KIND = "default"
"""The kind of a request that named neither a kind nor a role."""
DEFAULT_WINDOW = 100
"""Samples kept per window unless configured otherwise."""
DEFAULT_MAX_INFLIGHT = 10_000
"""Request ids remembered at most between ``RequestStarted`` and the request's end."""
REQUEST_FAULTS = frozenset({"context_overflow"})
"""Failure classes caused by the request, not the candidate: they add no sample."""


def kind_of(kind: str | None, role: str | None) -> str:
    """The task kind samples are filed under: ``kind``, else ``role``, else ``"default"``.

    The shell must use the same rule for the ``kind`` it orders with, so that ordering
    reads the windows its requests fill.
    """
    return kind or role or DEFAULT_KIND


class PerformanceState(msgspec.Struct, frozen=True, kw_only=True):
    """Recent performance per candidate; a fold over routing events.

    Create it with ``PerformanceState.empty(window=...)``: the window size is fixed for
    the state's lifetime (changing it means replaying into a new state). The dicts are
    never mutated in place: ``evolve`` builds new ones.
    """

    window: int = DEFAULT_WINDOW
    """Samples kept per window (>= 1)."""
    max_inflight: int = DEFAULT_MAX_INFLIGHT
    """Cap of ``inflight`` (>= 1)."""
    seq: int = 0
    """Samples folded so far: the clock of ``Window.last_seq``."""
    inflight: dict[str, str] = msgspec.field(default_factory=dict)
    """Request id -> kind of the requests started and not yet ended, oldest first."""
    started: dict[str, int] = msgspec.field(default_factory=dict)
    """Kind -> requests started (paces exploration)."""
    models: dict[str, dict[str, Window]] = msgspec.field(default_factory=dict)
    """Kind -> model -> window."""
    kind_deployments: dict[str, dict[str, Window]] = msgspec.field(default_factory=dict)
    """Kind -> deployment id -> window (what the router's ``performance`` strategy reads)."""
    deployments: dict[str, Window] = msgspec.field(default_factory=dict)
    """Deployment id -> window over every kind."""

    def __post_init__(self) -> None:
        # Also runs on decoding a snapshot: a broken size must fail loudly, not turn
        # into windows that silently keep nothing.
        if self.window < 1:
            raise ValueError(f"performance window must be >= 1 sample, got {self.window}")
        if self.max_inflight < 1:
            raise ValueError(f"max_inflight must be >= 1, got {self.max_inflight}")

    @classmethod
    def empty(
        cls, window: int = DEFAULT_WINDOW, *, max_inflight: int = DEFAULT_MAX_INFLIGHT
    ) -> PerformanceState:
        """The state before any event, keeping ``window`` samples per window.

        Raises:
            ValueError: ``window`` or ``max_inflight`` is below 1.
        """
        return cls(window=window, max_inflight=max_inflight)


def evolve(state: PerformanceState, event: Event | UnknownEvent) -> PerformanceState:
    """Fold one event into the state; total (other events leave it unchanged)."""
    match event:
        case RequestStarted(request_id=rid, kind=kind, role=role):
            return _started(state, rid, kind_of(kind, role))
        case AttemptSucceeded():
            sample = Sample(
                ok=True,
                latency_s=clean(event.latency_s),
                ttft_s=clean(event.ttft_s),
                tokens_per_s=clean(event.tokens_per_s),
            )
            return _sampled(state, event.request_id, event.deployment, sample)
        case AttemptFailed(failure=failure) | StreamInterrupted(failure=failure):
            if failure in REQUEST_FAULTS:
                return state
            return _sampled(state, event.request_id, event.deployment, Sample(ok=False))
        case RequestSucceeded(request_id=rid) | RequestFailed(request_id=rid):
            return _ended(state, rid)
        case RequestCancelled(request_id=rid):
            return _ended(state, rid)
        case _:
            return state


def _started(state: PerformanceState, request_id: str, kind: str) -> PerformanceState:
    inflight = dict(state.inflight)
    inflight.pop(request_id, None)  # a repeated id moves to the young end
    inflight[request_id] = kind
    # Oldest first: requests that never ended (a crash) are the ones to forget.
    while len(inflight) > state.max_inflight:
        del inflight[next(iter(inflight))]
    started = {**state.started, kind: state.started.get(kind, 0) + 1}
    return msgspec.structs.replace(state, inflight=inflight, started=started)


def _ended(state: PerformanceState, request_id: str) -> PerformanceState:
    if request_id not in state.inflight:
        return state
    inflight = dict(state.inflight)  # a copy keeps the order; the state is immutable
    del inflight[request_id]
    return msgspec.structs.replace(state, inflight=inflight)


def _sampled(
    state: PerformanceState, request_id: str, deployment: str, sample: Sample
) -> PerformanceState:
    """Add ``sample`` to the deployment's windows and, if the kind is known, its model's."""
    seq = state.seq + 1
    size = state.window

    def add(windows: dict[str, Window], key: str) -> dict[str, Window]:
        old = windows.get(key, Window())
        return {**windows, key: old.add(sample, seq=seq, size=size)}

    deployments = add(state.deployments, deployment)
    kind = state.inflight.get(request_id)
    if kind is None:
        return msgspec.structs.replace(state, seq=seq, deployments=deployments)
    model = deployment.rpartition("@")[0] or deployment  # the split at the last "@"
    models = {**state.models, kind: add(state.models.get(kind, {}), model)}
    kind_deployments = {
        **state.kind_deployments,
        kind: add(state.kind_deployments.get(kind, {}), deployment),
    }
    return msgspec.structs.replace(
        state,
        seq=seq,
        models=models,
        kind_deployments=kind_deployments,
        deployments=deployments,
    )
