"""Context windows in the request machine and planning's check (pure)."""

from __future__ import annotations

from actors.endpoint import BackendError, FailureClass, Message, Parameters
from actors.router import (
    AllCandidatesFailed,
    MachineSettings,
    ModelRoute,
    ModelSettings,
    RequestRejected,
    RequestState,
    RetryPolicy,
    RetryView,
    RouteRequest,
    RouterState,
    Unavailable,
    next_step,
    on_outcome,
    plan,
    start,
)
from actors.router._steps import (
    Admit,
    Admitted,
    Attempt,
    Done,
    Failed,
    Finish,
    PassOver,
    Replan,
    Replanned,
)
from actors.router._windows import (
    CONTEXT_WINDOW,
    blocks,
    needed_tokens,
    nothing_fits,
    ruled_out_by_overflow,
    windows_of,
)
from events import CandidateSkipped, Event

ROUTES = {
    "small": ModelRoute(deployments=("a",)),
    "mid": ModelRoute(deployments=("b", "c")),
    "big": ModelRoute(deployments=("d",)),
}
T = {"at": 1_700_000_000.0, "now": 0.0}
NOBODY = RetryView()
PROMPT = "x" * 400  # ~100 tokens


def request(text: str = PROMPT, max_tokens: int | None = None, **options: int) -> RouteRequest:
    return RouteRequest(
        chain=("small", "mid", "big"),
        messages=(Message(role="user", content=text),),
        params=Parameters(max_tokens=max_tokens, options=dict(options)),
    )


def begin(
    req: RouteRequest, windows: dict[str, int], down: frozenset[str] = frozenset()
) -> RequestState:
    """Plan as the driver does: health's verdicts (``down``) and the windows' blocks."""
    reasons = {d: ("quarantined", "") for d in down} | blocks(req, windows, {})
    unavailable = {d: Unavailable(reason=r, detail=t) for d, (r, t) in reasons.items()}
    planned = plan(req.chain, ROUTES, RouterState(), unavailable=unavailable)
    settings = MachineSettings(policy=RetryPolicy(max_attempts=5))
    return start(req, "r", planned, settings=settings, stream=False, now=0.0, windows=windows)


def walk(state: RequestState, events: list[Event]) -> tuple[RequestState, Attempt | Finish]:
    """Answer every step (admitting, passing over, re-planning) up to an attempt or the end."""
    while True:
        step = next_step(state, NOBODY, 0.0, 0.5)
        match step:
            case Attempt() | Finish():
                return state, step
            case Admit():
                state, new = on_outcome(state, Admitted(step=step, **T))
            case PassOver():
                state, new = on_outcome(state, Done(step=step, **T))
            case Replan(rest=rest):
                planned = plan(rest, ROUTES, RouterState())
                state, new = on_outcome(state, Replanned(step=step, plan=planned, events=(), **T))
            case _:
                raise AssertionError(f"unexpected step {step!r}")
        events.extend(new)


def overflow(state: RequestState, attempt: Attempt) -> RequestState:
    error = BackendError(FailureClass.CONTEXT_OVERFLOW, "exceeds the context size", status=400)
    state, _ = on_outcome(state, Failed(step=attempt, error=error, latency_s=0.1, **T))
    return state


def test_the_estimate_is_characters_over_four_plus_max_tokens() -> None:
    assert needed_tokens(request(max_tokens=None), None) == 100  # the prompt alone
    assert needed_tokens(request(max_tokens=None), 50) == 150  # the model's default
    assert needed_tokens(request(max_tokens=20), 50) == 120  # the call's wins
    embed = RouteRequest(chain=("big",), inputs=("y" * 40, "y" * 401))
    assert needed_tokens(embed, 50) == 101  # the longest input; nothing generated


def test_the_window_is_options_num_ctx_then_config_then_discovered() -> None:
    models = {
        "small": ModelSettings(route=ROUTES["small"], context_length=64),
        "mid": ModelSettings(
            route=ROUTES["mid"], context_length=64, defaults=Parameters(options={"num_ctx": 128})
        ),
    }
    found = windows_of(request(), ("small@a", "mid@b", "big@d", "big@e"), models, {"big@d": 9})
    assert found == {"small@a": 64, "mid@b": 128, "big@d": 9}  # big@e: unknown
    asked = windows_of(request(num_ctx=4096), ("mid@b",), models, {})
    assert asked == {"mid@b": 4096}  # the call's own num_ctx is what Ollama runs


def test_planning_skips_what_the_request_cannot_fit_and_says_the_numbers() -> None:
    state = begin(request(max_tokens=16), {"small@a": 100, "mid@b": 200})
    assert state.model == "mid" and state.queue == ("mid@b", "mid@c")
    [skip] = state.skipped
    assert skip.deployment == "small@a" and skip.reason == CONTEXT_WINDOW
    assert "~116 tokens" in skip.detail and "context window of 100" in skip.detail


def test_an_overflow_moves_on_past_windows_that_are_not_larger() -> None:
    events: list[Event] = []
    windows = {"small@a": 1000, "mid@b": 2000, "mid@c": 2000, "big@d": 8000}
    state, attempt = walk(begin(request(), windows), events)
    assert isinstance(attempt, Attempt) and attempt.target.deployment == "small@a"
    state, attempt = walk(overflow(state, attempt), events)
    assert isinstance(attempt, Attempt) and attempt.target.deployment == "mid@b"
    state, attempt = walk(overflow(state, attempt), events)
    # mid@c has the same window as mid@b, which overflowed: straight to big
    assert isinstance(attempt, Attempt) and attempt.target.deployment == "big@d"
    skips = [e for e in events if isinstance(e, CandidateSkipped)]
    assert [(s.deployment, s.reason) for s in skips] == [("mid@c", CONTEXT_WINDOW)]
    assert "mid@b overflowed with a window of 2000" in skips[0].detail


def test_an_unknown_window_that_overflows_rules_out_its_model_only() -> None:
    overflowed: dict[str, int | None] = {"mid@b": None}
    assert ruled_out_by_overflow("mid@c", overflowed, {}) is not None
    assert ruled_out_by_overflow("big@d", overflowed, {}) is None
    assert ruled_out_by_overflow("big@d", {"mid@b": 100}, {}) is None  # unknown: tried
    assert ruled_out_by_overflow("big@d", {"mid@b": 100}, {"big@d": 100}) is not None


def test_when_nothing_fits_the_request_is_rejected_with_the_estimate_and_the_largest() -> None:
    state = begin(request(max_tokens=16), {"small@a": 50, "mid@b": 60, "mid@c": 70, "big@d": 80})
    assert isinstance(state.error, RequestRejected)
    assert state.error.failure == "context_overflow" and not state.error.attempts
    text = str(state.error)
    assert "~116 tokens" in text and "largest known context window is 80 tokens (big@d)" in text


def test_overflowing_everywhere_ends_with_request_rejected() -> None:
    events: list[Event] = []
    state, attempt = walk(begin(request(), {}), events)  # every window unknown
    for expected in ("small@a", "mid@b", "big@d"):  # mid@c: same model as mid@b
        assert isinstance(attempt, Attempt) and attempt.target.deployment == expected
        state, attempt = walk(overflow(state, attempt), events)
    assert isinstance(attempt, Finish) and isinstance(attempt.error, RequestRejected)
    assert len(attempt.error.attempts) == 3
    assert "3 backend(s) answered context overflow" in str(attempt.error)


def test_a_model_that_may_fit_but_is_down_keeps_the_usual_error() -> None:
    assert nothing_fits("r", request(), (), (), {}, {}) is None  # nothing happened yet
    small = {"small@a": 10, "mid@b": 10, "mid@c": 10}
    state = begin(request(), small, down=frozenset({"big@d"}))
    assert isinstance(state.error, AllCandidatesFailed)  # big@d may fit once it is back
    assert not isinstance(state.error, RequestRejected)
    assert {s.reason for s in state.skipped} == {CONTEXT_WINDOW, "quarantined"}
    # too small *and* quarantined: the size is what matters
    state = begin(request(), {**small, "big@d": 10}, down=frozenset({"big@d"}))
    assert isinstance(state.error, RequestRejected)
