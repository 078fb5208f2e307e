"""Quota burn-down: use per limit and period, limit values, warnings and refusals."""

from __future__ import annotations

from events import Event
from runtime.inspect.web._index import WebIndex
from runtime.inspect.web._index_quota import NO_LIMITS, configured_limits
from runtime.inspect.web._views import Mark, QuotaLimitView, QuotaView
from tests.runtime.inspect._requests import stored
from tests.runtime.web._index_events import (
    WALL,
    answered,
    attempt,
    exceeded,
    fail,
    gave_up,
    interrupted,
    ok,
    period,
    simple,
    started,
    warning,
)

T = WALL  # 2023-11-14T22:13:20Z
MIDNIGHT = 1_699_920_000.0  # 2023-11-14T00:00:00Z
NEXT = MIDNIGHT + 86400


def index_of(events: list[Event], limits: dict[str, int] | None = None) -> WebIndex:
    index = WebIndex(limits=limits)
    index.feed_many(stored(events))
    return index


def view_of(index: WebIndex, since: float, until: float) -> QuotaView:
    return index.quotas(index.span(since, until, now=until, live=False))


def limit(view: QuotaView, name: str, key: str | None = None) -> QuotaLimitView:
    return next(v for v in view.limits if v.limit == name and key in (None, v.period))


def used(found: QuotaLimitView) -> list[float | None]:
    return [v for _, v in found.used.points]


def burn() -> list[Event]:
    """A period, five requests of 30 tokens (one a second), a warning at the fourth, a
    refusal after the fifth; a failed request (charges nothing) and a broken stream."""
    events: list[Event] = [period(T - 10, "2023-11-14", NEXT)]
    for i in range(5):
        events += simple(f"r{i}", T + i, "llama3@a", 0.5, tokens=(10, 20))
        if i == 3:
            events.append(warning(T + i + 0.5, "global.requests", 4, 5, "2023-11-14"))
    events.append(exceeded(T + 5.5, "global.requests", 5, 5, "2023-11-14"))
    events += [started("x", T + 6), attempt("x", 1, "qwen@a", T + 6)]
    events += [fail("x", 1, "qwen@a", T + 6.2), gave_up("x", T + 6.2, 1, "server_error", "e", 0.2)]
    events += [started("s", T + 7, stream=True, prompt_chars=40)]
    events += [interrupted("s", 1, "qwen@a", T + 7.5, partial=80)]
    events += [gave_up("s", T + 7.5, 1, "timeout_idle", "the stream broke", 0.5)]
    return events


def test_burn_down_with_a_configured_limit_and_a_warning() -> None:
    index = index_of(burn(), limits={"daily_requests": 5, "model:llama3.tokens": 200})
    view = view_of(index, T, T + 8)
    assert view.note == ""
    requests = limit(view, "global.requests")
    assert (requests.period, requests.period_start, requests.resets_at) == (
        "2023-11-14",
        MIDNIGHT,
        NEXT,
    )
    # cumulative at each second's end: the answers end at T+i+0.5; the broken stream
    # counts one more request at T+7.5
    assert used(requests) == [1.0, 2.0, 3.0, 4.0, 5.0, 5.0, 5.0, 6.0]
    assert (requests.used_now, requests.limit_value) == (6, 5)
    assert requests.warnings == (Mark(at=T + 3.5, label="global.requests: 4 of 5 used (80%)"),)
    assert [m.at for m in requests.exceeded] == [T + 5.5]
    tokens = limit(view, "model:llama3.tokens")
    assert (tokens.used_now, tokens.limit_value, tokens.warnings) == (150, 200, ())
    # the broken stream: 10 prompt tokens (40 chars) + 20 delivered (80 chars)
    assert limit(view, "global.requests") is requests
    assert [v.limit for v in view.limits] == ["global.requests", "model:llama3.tokens"]


def test_limits_known_from_events_only_and_use_before_the_span() -> None:
    index = index_of(burn())
    view = view_of(index, T + 2, T + 4)
    requests = limit(view, "global.requests")
    assert requests.limit_value == 5  # from the warning and the refusal
    assert used(requests) == [3.0, 4.0]  # counted from the period's start, not the span's
    assert [v.limit for v in view.limits] == ["global.requests"]


def test_a_new_period_starts_from_zero() -> None:
    events: list[Event] = [period(T - 10, "2023-11-14", NEXT)]
    events += simple("a", T, "llama3@a", 0.5, tokens=(1, 1))
    events += [period(NEXT + 5, "2023-11-15", NEXT + 86400)]
    events += simple("b", NEXT + 10, "llama3@a", 0.5, tokens=(1, 1))
    events += simple("c", NEXT + 20, "llama3@a", 0.5, tokens=(1, 1))
    index = index_of(events, limits={"global.requests": 100})
    view = view_of(index, T, NEXT + 3600)
    first, second = (limit(view, "global.requests", k) for k in ("2023-11-14", "2023-11-15"))
    assert (first.used_now, second.used_now) == (1, 2)
    assert second.period_start == NEXT and second.resets_at == NEXT + 86400
    # a bucket outside a period has no value in its series
    assert used(first)[-1] is None and used(second)[0] is None


def test_without_period_events_the_period_is_the_utc_day() -> None:
    index = index_of(simple("a", T, "llama3@a", tokens=(3, 4)), limits={"role:gen.tokens": 50})
    found = limit(view_of(index, T, T + 10), "role:gen.tokens")
    assert (found.period, found.period_start, found.resets_at, found.used_now) == (
        "2023-11-14",
        MIDNIGHT,
        NEXT,
        7,
    )


def test_no_limits_anywhere() -> None:
    empty = view_of(index_of([]), T, T + 10)
    assert (empty.limits, empty.note) == ((), NO_LIMITS)
    index = index_of(simple("a", T, "llama3@a", tokens=(3, 4)))
    view = view_of(index, T, T + 10)
    assert view.note.startswith(NO_LIMITS)
    assert [(v.limit, v.used_now, v.limit_value) for v in view.limits] == [
        ("global.requests", 1, None),
        ("global.tokens", 7, None),
    ]


def test_configured_limits_use_the_event_names() -> None:
    from actors.quota import DailyLimit, QuotaLimits

    limits = QuotaLimits(daily_tokens=1000, per_model={"llama3": DailyLimit(requests=3)})
    assert configured_limits(limits) == {"global.tokens": 1000, "model:llama3.requests": 3}


def test_an_unreported_completion_is_estimated_from_characters() -> None:
    rid = "e"
    events: list[Event] = [started(rid, T, prompt_chars=41), attempt(rid, 1, "llama3@a", T)]
    events += [ok(rid, 1, "llama3@a", T + 1, 1.0, completion_chars=9)]
    events += [answered(rid, "llama3@a", T + 1, 1, 1.0)]
    index = index_of(events, limits={"daily_tokens": 100})
    assert limit(view_of(index, T, T + 2), "global.tokens").used_now == 11 + 3
