"""The request machine, rule by rule (pure: no asyncio, no actors)."""

from __future__ import annotations

from actors.endpoint import BackendError, FailureClass, Message
from actors.quota import QuotaExceeded
from actors.router import (
    AllCandidatesFailed,
    MachineSettings,
    ModelRoute,
    RequestRejected,
    RequestState,
    RetryPolicy,
    RetryView,
    RouteRequest,
    RouterState,
    StreamBroken,
    next_step,
    on_outcome,
    plan,
    start,
)
from actors.router._steps import (
    Admit,
    Admitted,
    Attempt,
    Delivered,
    Done,
    Failed,
    Finish,
    PassOver,
    QuotaRefused,
    Repeat,
    Replan,
    Replanned,
    Reserve,
    Reserved,
    Step,
    Succeeded,
    Wait,
)
from events import Event, RequestFailed, RequestSucceeded
from events import StreamInterrupted as StreamInterruptedEvent

ROUTES = {"m1": ModelRoute(deployments=("a", "b")), "m2": ModelRoute(deployments=("c",))}
T = {"at": 1_700_000_000.0, "now": 0.0}
NOBODY = RetryView()


def begin(chain: tuple[str, ...], *, stream: bool = False, **settings: object) -> RequestState:
    policy = RetryPolicy(
        backoff_base=float(settings.pop("backoff_base", 1.0)),  # type: ignore[arg-type]
        max_attempts=int(settings.pop("max_attempts", 3)),  # type: ignore[call-overload]
        request_deadline=float(settings.pop("deadline", 60.0)),  # type: ignore[arg-type]
    )
    request = RouteRequest(chain=chain, messages=(Message(role="user", content="hi"),))
    planned = plan(chain, ROUTES, RouterState())
    return start(
        request, "r", planned, settings=MachineSettings(policy=policy, **settings),  # type: ignore[arg-type]
        stream=stream, now=0.0,
    )  # fmt: skip


def fail(failure: FailureClass, retry_after: float | None = None) -> BackendError:
    return BackendError(failure, failure.value, retry_after=retry_after)


def admit(state: RequestState, events: list[Event]) -> tuple[RequestState, Attempt]:
    """Answer the steps up to the next ``Attempt`` (admitting and reserving)."""
    step: Step = next_step(state, NOBODY, 0.0, 0.5)
    while not isinstance(step, Attempt):
        match step:
            case Admit():
                state, new = on_outcome(state, Admitted(step=step, **T))
            case Reserve():
                state, new = on_outcome(state, Reserved(step=step, **T))
            case PassOver() | Repeat():
                state, new = on_outcome(state, Done(step=step, **T))
            case _:
                raise AssertionError(f"expected an attempt, got {step!r}")
        events.extend(new)
        step = next_step(state, NOBODY, 0.0, 0.5)
    return state, step


def test_a_success_ends_with_the_reply_and_its_events() -> None:
    events: list[Event] = []
    state, attempt = admit(begin(("m1",)), events)
    assert attempt.target.deployment == "m1@a" and attempt.remaining_s == 60.0
    state, new = on_outcome(state, Succeeded(step=attempt, latency_s=0.2, content="yes", **T))
    finish = next_step(state, NOBODY, 0.0, 0.5)
    assert isinstance(finish, Finish) and finish.reply is not None
    assert finish.reply.content == "yes" and finish.reply.endpoint == "a"
    assert isinstance(new[-1], RequestSucceeded) and state.finished


def test_another_deployment_is_tried_at_once_and_the_fallback_before_any_backoff() -> None:
    events: list[Event] = []
    state, attempt = admit(begin(("m1", "m2")), events)
    state, _ = on_outcome(
        state, Failed(step=attempt, error=fail(FailureClass.SERVER_ERROR), latency_s=0.1, **T)
    )
    state, attempt = admit(state, events)
    assert attempt.target.deployment == "m1@b" and attempt.target.backoff_s == 0.0
    state, _ = on_outcome(
        state, Failed(step=attempt, error=fail(FailureClass.SERVER_ERROR), latency_s=0.1, **T)
    )
    step = next_step(state, NOBODY, 0.0, 0.5)
    assert isinstance(step, Replan) and step.rest == ("m2",) and step.reason == "failure"


def test_a_retry_of_the_same_deployment_waits_and_honours_retry_after() -> None:
    events: list[Event] = []
    state, attempt = admit(begin(("m2",)), events)
    error = fail(FailureClass.RATE_LIMITED, retry_after=7.0)
    state, _ = on_outcome(state, Failed(step=attempt, error=error, latency_s=0.1, **T))
    step = next_step(state, NOBODY, 0.0, 0.5)
    assert isinstance(step, Repeat)  # no fallback left: another pass
    state, _ = on_outcome(state, Done(step=step, **T))
    wait = next_step(state, NOBODY, 0.0, 0.5)
    assert isinstance(wait, Wait) and wait.deployment == "m2@c" and wait.seconds == 7.0


def test_a_drained_retry_budget_passes_the_deployment_over() -> None:
    events: list[Event] = []
    state, attempt = admit(begin(("m2",)), events)
    state, _ = on_outcome(
        state, Failed(step=attempt, error=fail(FailureClass.CONNECTION), latency_s=0.1, **T)
    )
    state, _ = on_outcome(state, Done(step=Repeat(), **T))
    drained = RetryView(exhausted=frozenset({"m2@c"}))
    step = next_step(state, drained, 0.0, 0.5)
    assert isinstance(step, PassOver) and step.reason == "unavailable"
    state, _ = on_outcome(state, Done(step=step, **T))
    finish = next_step(state, drained, 0.0, 0.5)
    assert isinstance(finish, Finish) and isinstance(finish.error, AllCandidatesFailed)
    assert "retry budget" in finish.error.reason and state.budget_refusals == 1


def test_a_backoff_that_would_cross_the_deadline_is_not_started() -> None:
    events: list[Event] = []
    state, attempt = admit(begin(("m2",), deadline=5.0), events)
    error = fail(FailureClass.RATE_LIMITED, retry_after=30.0)
    state, _ = on_outcome(state, Failed(step=attempt, error=error, latency_s=0.1, **T))
    state, _ = on_outcome(state, Done(step=Repeat(), **T))
    finish = next_step(state, NOBODY, 0.0, 0.5)
    assert isinstance(finish, Finish) and "deadline of 5 s" in str(finish.error)


def test_a_request_fault_is_rejected_and_a_bad_key_rules_the_deployment_out() -> None:
    events: list[Event] = []
    state, attempt = admit(begin(("m1",)), events)
    state, _ = on_outcome(
        state, Failed(step=attempt, error=fail(FailureClass.AUTH), latency_s=0.1, **T)
    )
    assert state.dead == {"m1@a"}
    state, attempt = admit(state, events)
    assert attempt.target.deployment == "m1@b"
    state, new = on_outcome(
        state, Failed(step=attempt, error=fail(FailureClass.GENERATION_ERROR), latency_s=0.1, **T)
    )
    finish = next_step(state, NOBODY, 0.0, 0.5)
    assert isinstance(finish, Finish) and isinstance(finish.error, RequestRejected)
    assert isinstance(new[-1], RequestFailed)
    # (a context overflow is not final: a larger model may take it, see test_windows.py)


def test_quota_refusal_fails_or_falls_back_by_policy() -> None:
    refusal = QuotaExceeded(
        "used up", limit="global:requests", used=1, limit_value=1, requested=1, resets_at=0.0
    )
    for fallback in (False, True):
        state = begin(("m1", "m2"), quota=True, quota_fallback=fallback)
        step = next_step(state, NOBODY, 0.0, 0.5)
        assert isinstance(step, Reserve) and step.reservation_id == "r#1"
        state, _ = on_outcome(state, QuotaRefused(step=step, error=refusal, **T))
        after = next_step(state, NOBODY, 0.0, 0.5)
        if fallback:
            assert isinstance(after, Replan) and after.reason == "quota"
        else:
            assert isinstance(after, Finish) and after.error is refusal


def test_a_stream_falls_back_only_before_its_first_chunk() -> None:
    events: list[Event] = []
    state, attempt = admit(begin(("m1",), stream=True), events)
    state, _ = on_outcome(
        state, Failed(step=attempt, error=fail(FailureClass.TIMEOUT_FIRST_BYTE), latency_s=1.0, **T)
    )
    state, attempt = admit(state, events)  # nothing was delivered: the next one is tried
    state, _ = on_outcome(state, Delivered(step=attempt, **T))
    state, new = on_outcome(
        state,
        Failed(
            step=attempt, error=fail(FailureClass.CONNECTION), latency_s=1.0, partial="Hel", **T
        ),
    )
    finish = next_step(state, NOBODY, 0.0, 0.5)
    assert isinstance(finish, Finish) and isinstance(finish.error, StreamBroken)
    assert finish.error.partial == "Hel"
    assert [type(e) for e in new] == [StreamInterruptedEvent, RequestFailed]


def test_the_attempt_limit_ends_the_walk() -> None:
    events: list[Event] = []
    state, attempt = admit(begin(("m1", "m2"), max_attempts=1), events)
    state, _ = on_outcome(
        state, Failed(step=attempt, error=fail(FailureClass.SERVER_ERROR), latency_s=0.1, **T)
    )
    finish = next_step(state, NOBODY, 0.0, 0.5)
    assert isinstance(finish, Finish) and "limit of 1 attempts" in str(finish.error)


def test_a_fallback_switch_enters_the_next_model() -> None:
    events: list[Event] = []
    state, attempt = admit(begin(("m1", "m2")), events)
    for _ in range(2):
        state, _ = on_outcome(
            state, Failed(step=attempt, error=fail(FailureClass.SERVER_ERROR), latency_s=0.1, **T)
        )
        step = next_step(state, NOBODY, 0.0, 0.5)
        if isinstance(step, Replan):
            break
        state, attempt = admit(state, events)
    assert isinstance(step, Replan)
    replanned = plan(step.rest, ROUTES, RouterState())
    state, _ = on_outcome(state, Replanned(step=step, plan=replanned, **T))
    state, attempt = admit(state, events)
    assert attempt.target.deployment == "m2@c" and state.model == "m2"
