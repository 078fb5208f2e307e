"""Events the health of a deployment (one model on one endpoint) is folded from.

Health keeps a small vocabulary of its own instead of folding the router's attempt
events: the router records *every* attempt in full (``AttemptSucceeded``/``AttemptFailed``
with timings and messages), while health only needs the part that moves its counters —
ok or not, the failure class and its weight — plus one event per status transition, so
that replaying a ``health/<deployment>`` stream reproduces the status exactly.

Times (``at``, ``until``) are wall-clock seconds since the Unix epoch, not monotonic
readings: a monotonic clock's origin is private to one process (one boot), so a
monotonic quarantine deadline read back after a restart would mean nothing. The price —
a wall-clock step changes how long a quarantine lasts — is bounded by the health logic,
which ends a quarantine early if the clock moves back past its start.

Probe permits of the half-open state are deliberately *not* here: they are held by
in-flight requests that die with the process, so they are transient (see
``actors.health``) and never reach the log.
"""

from __future__ import annotations

from events._base import Event
from events._codec import default_registry

__all__ = [
    "DeploymentCoolingDown",
    "DeploymentDegraded",
    "DeploymentFailed",
    "DeploymentPanicProbe",
    "DeploymentProbingStarted",
    "DeploymentQuarantined",
    "DeploymentRecovered",
    "DeploymentStabilized",
    "HEALTH_STREAM_PREFIX",
    "HealthEvent",
    "HealthOutcomeRecorded",
    "HealthReset",
]

HEALTH_STREAM_PREFIX = "health/"
"""Health events of deployment ``d`` go to stream ``health/<d>``."""


class HealthEvent(Event, frozen=True, kw_only=True):
    """Base of every health event: which deployment, and when (not registered itself)."""

    deployment: str
    """The deployment's name, e.g. ``llama3@local``."""
    at: float
    """When the decision was taken: wall-clock seconds since the Unix epoch."""


class HealthOutcomeRecorded(HealthEvent, frozen=True, kw_only=True):
    """The outcome of one request counted towards the deployment's health.

    Only outcomes that move the counters are recorded: a failure of weight 0 (the
    request's own fault, e.g. context overflow) is not the backend's and leaves no trace
    here, and permanent failures are recorded as ``DeploymentFailed`` instead.
    """

    ok: bool
    """Whether the request succeeded."""
    failure: str | None = None
    """The failure class (``FailureClass.value``, e.g. ``timeout_connect``) if not ok."""
    weight: float = 0.0
    """How much the failure counts, in ``[0, 1]`` (0 for a success)."""
    window_size: int = 20
    """The outcome window's length when recorded; stored so replay needs no policy."""
    latency: float | None = None
    """Seconds the successful call took (a stream: to its first chunk), when latency is
    judged (``health.degraded_latency_seconds`` set); None otherwise."""
    slow: bool | None = None
    """Whether ``latency`` was over the threshold in force when recorded; None when not
    judged. Replay folds this verdict, so it needs no policy either."""
    latency_window: int = 5
    """How many recent verdicts are kept; stored so replay needs no policy."""


class DeploymentDegraded(HealthEvent, frozen=True, kw_only=True):
    """The deployment fails some requests but is still under the quarantine thresholds,
    or most of its recent successful calls were slower than ``degraded_latency_seconds``."""

    reason: str = ""
    """Human-readable why, e.g. ``1 consecutive failure (last: timeout_idle)``."""
    latency: float | None = None
    """For a slow deployment, the latency (seconds) of the call that tipped it; None when
    it is degraded by failures."""


class DeploymentRecovered(HealthEvent, frozen=True, kw_only=True):
    """The deployment became healthy.

    From ``unknown`` (first success), ``degraded`` (the window is clean enough again) or
    ``probing`` (a probe request succeeded).
    """

    previous: str = ""
    """The status it left (``unknown``, ``degraded``, ``probing``...); empty in logs
    written before this field existed. ``unknown`` means first seen healthy, not a
    recovery from trouble."""


class DeploymentQuarantined(HealthEvent, frozen=True, kw_only=True):
    """The deployment was removed from selection until ``until``."""

    until: float
    """Wall-clock deadline (epoch seconds) after which probing may start."""
    quarantine_count: int
    """Quarantines since the deployment last stabilized, this one included (1 = first)."""
    reason: str = ""
    """Why: the threshold crossed and the last failure."""
    failure: str | None = None
    """The failure class of the failure that triggered it."""


class DeploymentProbingStarted(HealthEvent, frozen=True, kw_only=True):
    """The quarantine deadline passed: a bounded number of probe requests may go."""

    probe_round: int
    """Sequence number of this probing round; permits from older rounds are void."""
    reason: str = ""
    """Why probing started before the deadline (a liveness check found the endpoint
    accepting connections again, or a panic probe); empty when the deadline passed."""


class DeploymentCoolingDown(HealthEvent, frozen=True, kw_only=True):
    """The backend asked for a pause (429, or 503 with ``Retry-After``): every request
    skips the deployment until ``until``. Not a health failure: the status is unchanged,
    and the counters that lead to a quarantine do not move."""

    until: float
    """Wall-clock deadline (epoch seconds) of the cool-down."""
    reason: str = ""
    """What the backend answered, e.g. ``rate_limited: Retry-After 30 s``."""
    failure: str | None = None
    """The failure class of the answer (``rate_limited``, ``server_error``)."""


class DeploymentPanicProbe(HealthEvent, frozen=True, kw_only=True):
    """Every deployment a request could use was out of rotation (quarantined or cooling
    down): this one, back the soonest, was let through for one request as a probe
    instead of failing the request without trying (``health.panic_probe``)."""

    out_until: float
    """When it would have been back without the panic probe (epoch seconds)."""
    status: str = ""
    """Its status at the time (``quarantined``; or ``healthy`` etc. while cooling down)."""
    candidates: tuple[str, ...] = ()
    """Every deployment that was considered (all of them out)."""


class DeploymentFailed(HealthEvent, frozen=True, kw_only=True):
    """A permanent problem (bad credentials, model gone): out until reset or re-listed."""

    failure: str | None = None
    """The failure class, e.g. ``auth`` or ``model_not_found``."""
    reason: str = ""
    """What failed and what to do about it."""


class DeploymentStabilized(HealthEvent, frozen=True, kw_only=True):
    """A full window of clean outcomes since recovering: quarantine backoff starts over."""


class HealthReset(HealthEvent, frozen=True, kw_only=True):
    """Health was cleared back to ``unknown``: by an operator, or the catalog saw the model."""

    reason: str = ""
    """``manual reset`` or ``model seen in catalog again`` (or the operator's text)."""


for _cls in (
    HealthOutcomeRecorded,
    DeploymentDegraded,
    DeploymentRecovered,
    DeploymentQuarantined,
    DeploymentProbingStarted,
    DeploymentFailed,
    DeploymentStabilized,
    HealthReset,
    DeploymentCoolingDown,
    DeploymentPanicProbe,
):
    default_registry.register(_cls)
