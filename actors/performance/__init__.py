"""Performance-based routing: sliding windows of recent samples and an efficiency score.

Pure: ``evolve`` folds the routing events the router logs anyway (``events._routing``)
into ``PerformanceState`` (``fold_events``: many at once, the same result, cheaper);
``order``/``make_order`` rank candidates for the router's ``performance`` strategy;
``performance_summary`` is what ``rt.performance()`` and ``/performance-metrics``
report. The score formula and the exploration rule are documented in ``_score`` and
``_order``. The shell is ``PerformanceActor`` (``_actor``), the single owner of the
live windows, which it folds lazily.
"""

from __future__ import annotations

from actors.performance._actor import (
    GetPerformanceView,
    Observe,
    PerformanceActor,
    PerformanceMessage,
    SummarizePerformance,
)
from actors.performance._batch import fold_events
from actors.performance._kinds import MAX_OTHER_KINDS, OTHER_KIND, KindFold, fold_kind
from actors.performance._logic import (
    DEFAULT_KIND,
    DEFAULT_MAX_INFLIGHT,
    DEFAULT_WINDOW,
    REQUEST_FAULTS,
    PerformanceState,
    evolve,
    kind_of,
)
from actors.performance._order import (
    Level,
    OrderSettings,
    PerformanceOrder,
    exploration_period,
    make_order,
    order,
    order_models,
)
from actors.performance._score import (
    LATENCY_FLOOR_S,
    Sample,
    Window,
    WindowStats,
    clean,
    percentile,
    score,
    window_stats,
)
from actors.performance._summary import (
    DeploymentPerformance,
    ModelPerformance,
    PerformanceSummary,
    performance_summary,
)

__all__ = [
    "DEFAULT_KIND",
    "DEFAULT_MAX_INFLIGHT",
    "DEFAULT_WINDOW",
    "DeploymentPerformance",
    "KindFold",
    "LATENCY_FLOOR_S",
    "MAX_OTHER_KINDS",
    "OTHER_KIND",
    "Level",
    "ModelPerformance",
    "OrderSettings",
    "PerformanceOrder",
    "PerformanceState",
    "PerformanceSummary",
    "PerformanceActor",
    "PerformanceMessage",
    "GetPerformanceView",
    "Observe",
    "SummarizePerformance",
    "REQUEST_FAULTS",
    "Sample",
    "Window",
    "WindowStats",
    "clean",
    "evolve",
    "fold_events",
    "fold_kind",
    "exploration_period",
    "kind_of",
    "make_order",
    "order",
    "order_models",
    "percentile",
    "performance_summary",
    "score",
    "window_stats",
]
