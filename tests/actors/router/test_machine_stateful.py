"""The request machine against a model of its rules: pure, no asyncio, no actors.

Hypothesis plays the driver: it answers every step of one request with any outcome a
real driver could produce (plans that shrink or vanish, quota refusals, health saying
no, every failure class, Retry-After hints, streams breaking after their first chunk,
time jumping past the deadline, the caller cancelling), with a random retry-budget
view. The test keeps its own record of what happened and checks each step against
the rules in ``actors.router._machine``'s docstring.
"""

from __future__ import annotations

import math

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from actors.endpoint import BackendError, FailureClass, Message
from actors.quota import QuotaExceeded
from actors.router import (
    MachineSettings,
    ModelRoute,
    RequestRejected,
    RetryPolicy,
    RetryView,
    RouteRequest,
    RouterState,
    StreamBroken,
    Unavailable,
    fallback_events,
    next_step,
    on_outcome,
    plan,
    start,
)
from actors.router._steps import (
    Admit,
    Admitted,
    Attempt,
    Cancelled,
    Delivered,
    Done,
    Failed,
    Finish,
    NotAdmitted,
    Outcome,
    PassOver,
    QuotaRefused,
    QuotaUnavailable,
    Repeat,
    Replan,
    Replanned,
    Reserve,
    Reserved,
    Step,
    Succeeded,
    Wait,
)
from events import (
    AttemptFailed,
    AttemptStarted,
    AttemptSucceeded,
    Event,
    RequestCancelled,
    RequestFailed,
    RequestSucceeded,
)
from events import StreamInterrupted as StreamInterruptedEvent

ROUTES = {
    "m1": ModelRoute(deployments=("a", "b", "c")),
    "m2": ModelRoute(deployments=("b", "c")),
    "m3": ModelRoute(deployments=("a",)),
}
DEADLINE = 60.0
RETRY_AFTER_CAP = 5.0
TERMINAL = (RequestSucceeded, RequestFailed, RequestCancelled)
RULED_OUT = {f for f in FailureClass if not f.retryable and (f.permanent or f.health_weight > 0)}
RULED_OUT.add(FailureClass.MODEL_NOT_FOUND)


def _quota_error() -> QuotaExceeded:
    return QuotaExceeded(
        "daily requests of model 'm1' used up", limit="model:m1:requests", used=5,
        limit_value=5, requested=1, resets_at=0.0,
    )  # fmt: skip


class MachineRules(RuleBasedStateMachine):
    """One request per example; every rule answers the current step."""

    @initialize(
        chain=st.lists(st.sampled_from(sorted(ROUTES)), min_size=1, max_size=3, unique=True),
        blocked=st.sets(st.sampled_from(["m1@a", "m1@b", "m1@c", "m2@b", "m2@c", "m3@a"])),
        quota=st.booleans(),
        quota_fallback=st.booleans(),
        stream=st.booleans(),
        max_attempts=st.integers(1, 6),
    )
    def begin(
        self,
        chain: list[str],
        blocked: set[str],
        quota: bool,
        quota_fallback: bool,
        stream: bool,
        max_attempts: int,
    ) -> None:
        policy = RetryPolicy(
            max_attempts=max_attempts, backoff_base=1.0, backoff_cap=8.0,
            retry_after_cap=RETRY_AFTER_CAP, request_deadline=DEADLINE,
        )  # fmt: skip
        self.settings = MachineSettings(
            policy=policy, quota=quota, quota_fallback=quota_fallback, max_tokens={}
        )
        self.request = RouteRequest(
            chain=tuple(chain), messages=(Message(role="user", content="hello"),)
        )
        planned = self._plan(tuple(chain), blocked)
        self.now = 1000.0
        self.state = start(
            self.request, "r1", planned, settings=self.settings, stream=stream, now=self.now
        )
        self.events: list[Event] = []
        self.view = RetryView()
        self.step: Step = next_step(self.state, self.view, self.now, 0.5)
        # What the model of the rules remembers.
        self.admitted = 0
        self.tries: dict[str, int] = {}
        self.ruled_out: set[str] = set()
        self.retry_after: dict[str, float] = {}
        self.refused_models: set[str] = set()
        self.replan_empty_for: str | None = None
        self.delivered = False
        self.expected_error: type[Exception] | None = None
        self.quota_error: QuotaExceeded | None = None
        self.reserved: str | None = None
        self.finished_step: Finish | None = None

    def _plan(self, chain: tuple[str, ...], blocked: set[str]) -> object:
        unavailable = {d: Unavailable(reason="quarantined") for d in blocked}
        return plan(chain, ROUTES, RouterState(), unavailable=unavailable)

    # --- driving ------------------------------------------------------------------------

    def _feed(self, outcome: Outcome, *, u: float = 0.5) -> None:
        self.state, events = on_outcome(self.state, outcome)
        self.events.extend(events)
        self.step = next_step(self.state, self.view, self.now, u)
        self._check_step()

    def _at(self) -> dict[str, float]:
        return {"at": 1_700_000_000.0 + self.now, "now": self.now}

    def _model_of(self, did: str) -> str:
        return did.rpartition("@")[0]

    @rule(
        advance=st.sampled_from([0.0] * 6 + [1.0, 10.0, 70.0]),
        exhausted=st.sets(st.sampled_from(["m1@a", "m1@b", "m1@c", "m2@b", "m2@c", "m3@a"])),
        u=st.floats(0.0, 0.999),
        data=st.data(),
    )
    def answer(self, advance: float, exhausted: set[str], u: float, data: st.DataObject) -> None:
        step = self.step
        if not self.state.finished and data.draw(st.integers(0, 30)) == 0:
            self._cancel()  # the caller gives up, now and then
            return
        if isinstance(step, Finish):
            self.finished_step = step
            self.state, events = on_outcome(self.state, Done(step=step, **self._at()))
            self.events.extend(events)
            assert next_step(self.state, self.view, self.now, u) == step  # stays finished
            return
        self.now += advance
        self.view = RetryView(exhausted=frozenset(exhausted))
        match step:
            case PassOver() | Repeat():
                self._feed(Done(step=step, **self._at()), u=u)
            case Wait(seconds=seconds):
                self.now += seconds
                self._feed(Done(step=step, **self._at()), u=u)
            case Replan(rest=rest, from_model=from_model):
                blocked = data.draw(st.sets(st.sampled_from(["m1@a", "m1@b", "m2@b", "m3@a"])))
                replanned = self._plan(rest, blocked)
                events: tuple[Event, ...] = ()
                if replanned.empty:  # type: ignore[attr-defined]
                    self.replan_empty_for = from_model
                else:
                    events = fallback_events(
                        replanned, request_id="r1", at=0.0, from_model=from_model,  # type: ignore[arg-type]
                        reason=step.reason, detail=step.detail,
                    )  # fmt: skip
                    self.replan_empty_for = None
                self._feed(Replanned(step=step, plan=replanned, events=events, **self._at()), u=u)  # type: ignore[arg-type]
            case Reserve(deployment=did, reservation_id=rid):
                answer = data.draw(st.sampled_from(["ok"] * 8 + ["refused", "unavailable"]))
                if answer == "ok":
                    self.reserved = rid
                    self._feed(Reserved(step=step, **self._at()), u=u)
                elif answer == "refused":
                    self.quota_error = _quota_error()
                    self.refused_models.add(self._model_of(did))
                    self._feed(QuotaRefused(step=step, error=self.quota_error, **self._at()), u=u)
                else:
                    self.expected_error = RuntimeError
                    error = RuntimeError("log down")
                    self._feed(QuotaUnavailable(step=step, error=error, **self._at()), u=u)
            case Admit(deployment=did):
                if data.draw(st.integers(0, 5)) > 0:
                    self.admitted += 1
                    self.tries[did] = self.tries.get(did, 0) + 1
                    probe = data.draw(st.sampled_from([None, 3]))
                    self._feed(Admitted(step=step, probe_round=probe, **self._at()), u=u)
                else:
                    self._feed(
                        NotAdmitted(step=step, reason="quarantined", detail="", **self._at()), u=u
                    )
            case Attempt():
                self._answer_attempt(step, data, u)
            case _:
                raise AssertionError(f"unexpected step {step!r}")

    def _answer_attempt(self, step: Attempt, data: st.DataObject, u: float) -> None:
        did = step.target.deployment
        if self.state.stream and not self.delivered and data.draw(st.booleans()):
            self.delivered = True
            self.state, events = on_outcome(self.state, Delivered(step=step, **self._at()))
            self.events.extend(events)
        if data.draw(st.integers(0, 3)) == 0:
            self._feed(
                Succeeded(step=step, latency_s=0.1, content="hi", chars=2, **self._at()), u=u
            )
            return
        retryable = [f for f in FailureClass if f.retryable]
        failure = data.draw(st.sampled_from(retryable * 3 + list(FailureClass)))
        hint = data.draw(st.sampled_from([None, 0.0, 2.0, 100.0, math.inf, -1.0]))
        error = BackendError(failure, f"{failure.value} on {did}", retry_after=hint)
        if self.delivered:
            self.expected_error = StreamBroken
        elif failure is FailureClass.CONTEXT_OVERFLOW:
            self.ruled_out.add(did)  # a model with a larger window may take it (_windows)
        elif not failure.retryable and failure not in RULED_OUT:
            self.expected_error = RequestRejected
        elif failure in RULED_OUT:
            self.ruled_out.add(did)
        if hint is not None and not math.isnan(hint):
            self.retry_after[did] = min(RETRY_AFTER_CAP, max(0.0, hint))
        else:
            self.retry_after.pop(did, None)
        self._feed(
            Failed(
                step=step, error=error, latency_s=0.1, partial="x" * self.delivered, **self._at()
            ),
            u=u,
        )

    def _cancel(self) -> None:
        self.state, events = on_outcome(self.state, Cancelled(partial_chars=0, **self._at()))
        self.events.extend(events)
        assert isinstance(events[-1], RequestCancelled)
        self.step = next_step(self.state, self.view, self.now, 0.5)
        assert self.state.finished and self.step == Finish()

    # --- the rules ----------------------------------------------------------------------

    def _check_step(self) -> None:
        step, state = self.step, self.state
        policy = self.settings.policy
        if isinstance(step, Finish):
            if self.expected_error is not None and not self.state.finished:
                return
            if self.expected_error is StreamBroken:
                assert isinstance(step.error, StreamBroken)
            elif self.expected_error is RequestRejected:
                assert isinstance(step.error, RequestRejected)
            elif self.expected_error is RuntimeError:
                assert isinstance(step.error, RuntimeError)
            elif self.quota_error is not None and not self.settings.quota_fallback:
                assert step.error is self.quota_error  # on_exceeded: fail
            return
        if self.state.finished:
            return
        assert self.expected_error is None, f"{self.expected_error} should have ended it"
        did = getattr(step, "deployment", None) or (
            step.target.deployment if isinstance(step, Attempt) else None
        )
        if isinstance(step, Replan | Reserve | Admit | Wait):
            assert not self.delivered, "no fallback or retry once text reached the caller"
        if isinstance(step, Reserve | Admit | Wait | Attempt):
            assert did is not None
            assert did not in self.ruled_out, f"{did} was ruled out for this request"
            assert (
                self._model_of(did) not in self.refused_models or not self.settings.quota_fallback
            )
            assert self.admitted <= policy.max_attempts
        if isinstance(step, Reserve | Admit) and state.pending is None:
            # A fresh candidate: the budget must allow a retry after the first attempt.
            assert self.admitted == 0 or did not in self.view.exhausted
        if isinstance(step, Wait):
            assert did is not None and self.tries.get(did, 0) > 0, "only a retry waits"
            rest = state.chain[state.chain.index(state.model) + 1 :] if state.model else ()
            assert not rest or self.replan_empty_for == state.model, "waited with a fallback left"
            assert step.seconds < state.deadline - self.now, "a backoff crossing the deadline"
            assert step.seconds >= self.retry_after.get(did, 0.0)
        if isinstance(step, Attempt):
            assert step.target.attempt == self.admitted
            if self.settings.quota:
                assert step.target.reservation == self.reserved
        fresh = state.pending is None and state.target is None
        if isinstance(step, Reserve | Admit | Wait | Replan | PassOver | Repeat) and fresh:
            assert self.now < state.deadline, "a new candidate after the deadline"

    @invariant()
    def events_tell_the_same_story(self) -> None:
        if not hasattr(self, "events"):
            return
        terminal = [e for e in self.events if isinstance(e, TERMINAL)]
        assert len(terminal) <= 1 and (not terminal or self.state.finished)
        if terminal:
            assert self.events[-1] is terminal[0] or not isinstance(self.events[-1], AttemptStarted)
        started = [e for e in self.events if isinstance(e, AttemptStarted)]
        ended = [
            e
            for e in self.events
            if isinstance(e, AttemptSucceeded | AttemptFailed | StreamInterruptedEvent)
        ]
        assert len(started) == self.admitted == self.state.attempts
        assert len(ended) <= len(started) <= len(ended) + 1
        assert [e.attempt for e in started] == list(range(1, len(started) + 1))


TestMachineRules = MachineRules.TestCase
TestMachineRules.settings = settings(max_examples=500, stateful_step_count=40, deadline=None)
