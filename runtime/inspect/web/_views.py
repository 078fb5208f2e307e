"""What each page of the web view shows: plain, frozen view models (pure data).

``runtime.inspect.web._index.WebIndex`` builds them from the log's events (the same pure
projections ``inspect`` uses); ``runtime.inspect.web._pages`` renders them as HTML and
SVG. Times are wall-clock epoch seconds, durations seconds.
"""

from __future__ import annotations

import msgspec

__all__ = [
    "STATUSES",
    "Band",
    "DeploymentBands",
    "DeploymentLatency",
    "FailureCell",
    "FlowLink",
    "FlowView",
    "LatencyView",
    "Mark",
    "Overview",
    "QuotaLimitView",
    "QuotaView",
    "Series",
    "Span",
    "Totals",
]

STATUSES = (
    "healthy",
    "degraded",
    "quarantined",
    "probing",
    "failed",
    "cool_down",
    "panic_probe",
    "unknown",
)
"""A deployment's status bands; ``unknown`` is before the log says anything (or after a
health reset)."""


class Span(msgspec.Struct, frozen=True, kw_only=True):
    """The time range a page shows and the width of its buckets."""

    since: float
    until: float
    bucket_s: float
    """Width of one bucket of the series (about 120 buckets over the range)."""
    live: bool = False
    """Whether ``until`` is "now" (the page follows the log)."""


class Band(msgspec.Struct, frozen=True, kw_only=True):
    """One stretch of one status, clipped to the page's span."""

    start: float
    end: float
    status: str
    """One of ``STATUSES``."""
    reason: str = ""
    """Why it began (the event's reason or failure class), for the tooltip."""
    ongoing: bool = False
    """True when the stretch had not ended by the last event (the band runs to the span's end)."""


class DeploymentBands(msgspec.Struct, frozen=True, kw_only=True):
    deployment: str
    """``model@endpoint``."""
    bands: tuple[Band, ...]
    status_now: str
    """The status at the span's end."""
    changes: int
    """Status changes inside the span."""
    out_s: float
    """Seconds out of rotation (quarantined, probing, failed) inside the span."""


class Series(msgspec.Struct, frozen=True, kw_only=True):
    """One line of a chart: a value per bucket start (None: no data in that bucket)."""

    name: str
    points: tuple[tuple[float, float | None], ...]


class Totals(msgspec.Struct, frozen=True, kw_only=True):
    """Counts inside the span."""

    requests: int
    succeeded: int
    failed: int
    cancelled: int
    running: int
    fallbacks: int
    events: int
    """Events of the log inside the span (all types)."""


class Overview(msgspec.Struct, frozen=True, kw_only=True):
    span: Span
    first_at: float | None
    """The log's first and last event times (None: empty log)."""
    last_at: float | None
    position: int
    """The last position the index has read."""
    totals: Totals
    deployments: tuple[DeploymentBands, ...]
    rate: tuple[Series, ...]
    """Requests per second per bucket: one series per deployment (by the deployment that
    answered or was last tried) and one named ``all``."""
    keep_s: float | None = None
    """The view's retention window (``WebView(keep_s=...)``): only its last ``keep_s``
    seconds are kept in memory; None: everything read is kept."""
    kept_since: float | None = None
    """What the index keeps begins here (``WebIndex.kept_since``); None: the log's start."""


class DeploymentLatency(msgspec.Struct, frozen=True, kw_only=True):
    deployment: str
    requests: int
    """Attempts on it inside the span (succeeded + failed)."""
    errors: int
    """Failed attempts on it inside the span."""
    p50_s: float | None
    p95_s: float | None
    """Over the whole span, of successful attempts' latency."""
    p50: Series
    p95: Series
    error_rate: Series
    """Failed attempts / attempts per bucket (0..1)."""


class FailureCell(msgspec.Struct, frozen=True, kw_only=True):
    failure: str
    """The failure class, e.g. ``timeout_connect``."""
    deployment: str
    count: int


class LatencyView(msgspec.Struct, frozen=True, kw_only=True):
    span: Span
    deployments: tuple[DeploymentLatency, ...]
    failures: tuple[FailureCell, ...]
    """Failed attempts by class x deployment inside the span (non-zero cells)."""
    failure_series: tuple[Series, ...]
    """Failed attempts per bucket, one series per failure class."""


class Mark(msgspec.Struct, frozen=True, kw_only=True):
    at: float
    label: str


class QuotaLimitView(msgspec.Struct, frozen=True, kw_only=True):
    """One limit's burn-down in one period."""

    limit: str
    """The limit's name as the quota events name it (e.g. ``daily_tokens``)."""
    period: str
    period_start: float
    resets_at: float | None
    used: Series
    """Cumulative use since the period's start, per bucket."""
    used_now: int
    limit_value: int | None
    """None when neither the events nor the configuration say it."""
    warnings: tuple[Mark, ...]
    exceeded: tuple[Mark, ...]


class QuotaView(msgspec.Struct, frozen=True, kw_only=True):
    span: Span
    limits: tuple[QuotaLimitView, ...]
    note: str = ""
    """Said when there is nothing to show and why (e.g. no limits set)."""


class FlowLink(msgspec.Struct, frozen=True, kw_only=True):
    source: str
    target: str
    count: int
    kind: str
    """``route`` (role -> model), ``serve`` (model -> deployment that answered or was
    tried last), or ``fallback`` (model -> model)."""


class FlowView(msgspec.Struct, frozen=True, kw_only=True):
    span: Span
    roles: tuple[str, ...]
    models: tuple[str, ...]
    deployments: tuple[str, ...]
    links: tuple[FlowLink, ...]
