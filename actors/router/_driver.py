"""The request driver: runs one request's pure machine, in the caller's task (a shell).

A request is a conversation with the actors, not an actor. The driver asks the health
actor, the catalog and the performance windows for what planning needs, asks the
router to plan, then loops: ``next_step`` says what to do, the driver does it —
reserve quota, ask health to admit, call the endpoint (through its actor's handle),
sleep a backoff, ask the router for a fallback — and feeds what happened back through
``on_outcome``. One loop serves ``chat`` and ``stream``; the only difference is the
call itself (a whole reply, or chunks yielded to the caller).

Asks whose answer matters are awaited (inline when the actor is idle). Reports that
need no answer (an attempt's end to health, router and quota; a probe permit given
back) are ``notify``s: synchronous, inline when the actor is idle and queued
otherwise, so a caller cancelling at any moment can never leave one half sent.

A request's events are published as they happen and recorded as one batch for stream
``request/<id>`` when it ends; the performance windows fold its start at once and the
rest at the end (the batch's order). Cancellation (the caller cancels ``chat`` or
closes the stream) ends the request with ``RequestCancelled`` and gives back whatever
its attempt held.

Supervision: if an actor's handler fails while answering, the actor is restarted from
the log and the driver sends the same message once more (the messages are idempotent
or counted at least once); a second failure ends the request.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import math
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from actors._actor import M
from actors._ask import Ask, R
from actors._clock import Clock
from actors._errors import ActorError, WouldBlock
from actors._ref import ActorRef
from actors.catalog import CatalogMessage, FindUnlisted, RefreshSoon
from actors.endpoint import (
    BackendError,
    Call,
    CallResult,
    ChatRequest,
    Chunk,
    Deadlines,
    EndpointMessage,
    FailureClass,
    Message,
)
from actors.health import AcquireProbe, HealthMessage, ReleaseProbe, ReportOutcome, Screen
from actors.health import NotAdmitted as HealthNotAdmitted
from actors.performance import GetPerformanceView, Observe, PerformanceMessage, PerformanceState
from actors.quota import QuotaMessage, QuotaUnavailable, Refused, Release, Settle
from actors.quota import Reserve as ReserveQuota
from actors.router._errors import RequestRejected, StreamInterrupted
from actors.router._machine import (
    MachineSettings,
    RequestState,
    health_report,
    next_step,
    on_outcome,
    prompt_hash,
    start,
)
from actors.router._messages import (
    EndAttempt,
    EndRequest,
    PlanFallback,
    Planned,
    PlanRoute,
    RequestOutcome,
    RetryView,
    RouterMessage,
    StartAttempt,
)
from actors.router._steps import (
    Admit,
    Admitted,
    Attempt,
    Cancelled,
    Crashed,
    Delivered,
    Done,
    Failed,
    Finish,
    NotAdmitted,
    Outcome,
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
from actors.router._steps import QuotaUnavailable as QuotaFailed
from actors.router._types import ModelSettings, Reply, RouteRequest, StreamChunk
from events import REQUEST_STREAM_PREFIX, Event

__all__ = ["Driver", "Refs"]

Record = Callable[[str, Sequence[Event]], None]
Publish = Callable[[Event], None]


@dataclass(frozen=True, kw_only=True)
class Refs:
    """The actors a request talks to."""

    router: ActorRef[RouterMessage]
    health: ActorRef[HealthMessage]
    catalog: ActorRef[CatalogMessage]
    performance: ActorRef[PerformanceMessage]
    endpoints: Mapping[str, ActorRef[EndpointMessage]]
    quota: ActorRef[QuotaMessage] | None = None


class Driver:
    """Runs requests (``chat``, ``stream``); see the module docstring."""

    def __init__(
        self,
        refs: Refs,
        models: Mapping[str, ModelSettings],
        settings: MachineSettings,
        *,
        clock: Clock,
        rng: Callable[[], float],
        record: Record,
        publish: Publish,
    ) -> None:
        """Create the driver.

        Args:
            refs: The actors.
            models: Configured model name -> its route, defaults and deadlines.
            settings: The retry policy and quota rules every request shares.
            clock: Backoff sleeps, deadlines and event times.
            rng: Uniform draws in ``[0, 1)`` for backoff jitter.
            record: Persists a request's events (one call per request, when it ends).
            publish: Announces each event as it happens.
        """
        self._refs = refs
        self._models = dict(models)
        self._settings = settings
        self._clock = clock
        self._rng = rng
        self._record = record
        self._publish = publish
        self._dids: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._ranked = frozenset(
            name for name, model in self._models.items() if model.route.strategy == "performance"
        )

    async def chat(self, request: RouteRequest) -> Reply:
        """Route one request to a complete reply.

        Raises:
            NoCandidates: No deployment of the chain is admissible.
            AllCandidatesFailed: Every attempt failed (each one listed).
            RequestRejected: The backend refused the request itself.
            QuotaExceeded, QuotaUnavailable: The quota refused it or could not record it.
        """
        reply: Reply | None = None
        async for item in self._run(request, stream=False):
            assert isinstance(item, Reply)
            reply = item
        assert reply is not None  # _run yields a reply or raises
        return reply

    async def stream(self, request: RouteRequest) -> AsyncGenerator[StreamChunk, None]:
        """Route one request to a stream of chunks (fallback only before the first).

        Raises (while iterating): as ``chat``, before any chunk; ``StreamInterrupted``
        after chunks were yielded (it carries the partial text).
        """
        async with contextlib.aclosing(self._run(request, stream=True)) as items:
            async for item in items:
                assert isinstance(item, StreamChunk)
                yield item

    # --- the loop -----------------------------------------------------------------------

    async def _run(
        self, request: RouteRequest, *, stream: bool
    ) -> AsyncGenerator[Reply | StreamChunk, None]:
        clock = self._clock
        run = _Run(request, request.request_id or _new_id(), self._publish)
        planned = await self._plan_route(run, stream)
        if not self._ranked.isdisjoint(request.chain):
            # The next plan's exploration counter must count this request already.
            run.observed_start = True
            self._refs.performance.notify(Observe(planned.events[:1]))
        run.state = start(
            request, run.id, planned.plan, settings=self._settings, stream=stream,
            now=clock.monotonic(),
        )  # fmt: skip
        run.view = planned.view
        try:
            while True:
                step = next_step(run.state, run.view, clock.monotonic(), self._rng())
                if isinstance(step, Finish):
                    run.apply(Done(step=step, at=clock.time(), now=clock.monotonic()))
                    if step.error is not None:
                        raise step.error
                    if not stream:
                        assert step.reply is not None
                        yield step.reply
                    return
                if isinstance(step, Attempt) and not stream:
                    run.apply(ended := await self._call(run, step))
                    self._attempt_ended(run, ended)
                    continue
                if isinstance(step, Attempt):
                    # aclosing: a caller that stops early closes the call *now*.
                    async with contextlib.aclosing(self._call_streamed(run, step)) as items:
                        async for item in items:
                            if isinstance(item, StreamChunk):
                                yield item
                            else:
                                run.apply(item)
                                self._attempt_ended(run, item)
                    if run.final_chunk is not None:
                        # The request is recorded as succeeded before the final chunk, so
                        # a caller that stops right after it is not "cancelled".
                        self._finish(run)
                        yield run.final_chunk
                        return
                    continue
                run.apply(await self._carry_out(run, step))
        except (asyncio.CancelledError, GeneratorExit):
            self._abandon(run)
            run.apply(Cancelled(at=clock.time(), now=clock.monotonic(), partial_chars=run.chars))
            raise
        except Exception as exc:
            if not run.state.finished:
                self._abandon(run)
                run.apply(Crashed(at=clock.time(), now=clock.monotonic(), error=exc))
            raise
        finally:
            self._finish(run)

    async def _carry_out(self, run: _Run, step: Step) -> Outcome:
        """One step that is not a call: returns what happened."""
        clock, refs = self._clock, self._refs
        match step:
            case Wait(seconds=seconds):
                await clock.sleep(seconds)
                return Done(step=step, at=clock.time(), now=clock.monotonic())
            case Replan():
                return await self._replan(run, step)
            case Reserve():
                return await self._reserve(run, step)
            case Admit(deployment=did, reservation=reservation):
                answer = await _ask(refs.health, AcquireProbe(did))
                at, now = clock.time(), clock.monotonic()
                if isinstance(answer, HealthNotAdmitted):
                    if reservation is not None and refs.quota is not None:
                        reason = "not attempted: deployment unavailable"
                        refs.quota.notify(Release(reservation_id=reservation, reason=reason))
                    return NotAdmitted(
                        step=step, at=at, now=now, reason=answer.reason, detail=answer.detail
                    )
                return Admitted(step=step, at=at, now=now, probe_round=answer.probe_round)
            case PassOver() | Repeat():  # nothing to do but note it
                return Done(step=step, at=clock.time(), now=clock.monotonic())
            case _:
                raise TypeError(f"not a step to carry out here: {step!r}")

    # --- planning -----------------------------------------------------------------------

    async def _view(
        self, chain: tuple[str, ...]
    ) -> tuple[Mapping[str, tuple[str, str]], frozenset[str], PerformanceState | None]:
        """What health, the catalog and the windows say about ``chain`` right now."""
        refs = self._refs
        dids = self._dids.get(chain)
        if dids is None:
            dids = self._dids[chain] = tuple(
                f"{m}@{e}"
                for m in dict.fromkeys(chain)
                if m in self._models
                for e in self._models[m].route.deployments
            )
        blocked = (await _ask(refs.health, Screen(dids))).blocked
        unlisted = await _ask(refs.catalog, FindUnlisted(dids))
        ranked = None
        if not self._ranked.isdisjoint(chain):
            ranked = await _ask(refs.performance, GetPerformanceView())
        return blocked, unlisted, ranked

    async def _plan_route(self, run: _Run, stream: bool) -> Planned:
        request = run.request
        blocked, unlisted, ranked = await self._view(request.chain)
        planned = await _ask(
            self._refs.router,
            PlanRoute(
                request_id=run.id, chain=request.chain, at=self._clock.time(),
                role=request.role, model=request.model, kind=request.kind, stream=stream,
                prompt_chars=sum(len(m.content) for m in request.messages),
                prompt_hash=prompt_hash(request.messages), messages=len(request.messages),
                blocked=blocked, unlisted=unlisted, performance=ranked,
            ),
        )  # fmt: skip
        run.add(planned.events)
        return planned

    async def _replan(self, run: _Run, step: Replan) -> Replanned:
        request = run.request
        blocked, unlisted, ranked = await self._view(step.rest)
        at = self._clock.time()
        planned = await _ask(
            self._refs.router,
            PlanFallback(
                request_id=run.id, rest=step.rest, at=at, role=request.role,
                kind=request.kind, from_model=step.from_model, reason=step.reason,
                detail=step.detail, blocked=blocked, unlisted=unlisted, performance=ranked,
            ),
        )  # fmt: skip
        run.view = planned.view
        return Replanned(
            step=step, at=at, now=self._clock.monotonic(), plan=planned.plan,
            events=planned.events,
        )  # fmt: skip

    async def _reserve(self, run: _Run, step: Reserve) -> Outcome:
        quota, clock = self._refs.quota, self._clock
        assert quota is not None  # the machine reserves only with a quota actor
        answer = await _ask(
            quota,
            ReserveQuota(
                reservation_id=step.reservation_id, request_id=run.id, model=step.model,
                role=run.request.role, endpoint=step.endpoint,
                estimated_tokens=step.estimated_tokens,
            ),
        )  # fmt: skip
        if isinstance(answer, Refused):
            return QuotaRefused(
                step=step, at=clock.time(), now=clock.monotonic(), error=answer.error
            )
        if answer.commit is not None:
            commit = asyncio.ensure_future(answer.commit)
            try:
                await asyncio.shield(commit)
            except asyncio.CancelledError:
                # Give it back once it is known to be in the log (undone if it is not).
                commit.add_done_callback(functools.partial(_release_later, quota, step))
                raise
            except Exception as exc:
                error = QuotaUnavailable(
                    f"quota reservation for model {step.model!r} could not be recorded "
                    f"({type(exc).__name__}: {exc}); the request was refused because quotas "
                    "fail closed — check the event log (disk full? read-only?)"
                )
                error.__cause__ = exc
                return QuotaFailed(step=step, at=clock.time(), now=clock.monotonic(), error=error)
        return Reserved(step=step, at=clock.time(), now=clock.monotonic())

    # --- the call -----------------------------------------------------------------------

    def _request_for(self, run: _Run, step: Attempt, stream: bool) -> ChatRequest:
        """The backend request: the call's settings, else the model's defaults."""
        target, request = step.target, run.request
        settings = self._models[target.model]
        return ChatRequest(
            model=target.model,
            messages=request.messages,
            max_tokens=request.max_tokens
            if request.max_tokens is not None
            else settings.max_tokens,
            temperature=(
                request.temperature if request.temperature is not None else settings.temperature
            ),
            stream=stream,
        )

    async def _call(self, run: _Run, step: Attempt) -> Succeeded | Failed:
        """Call the deployment for a whole reply."""
        target, clock = step.target, self._clock
        req = self._request_for(run, step, False)
        deadlines = _deadlines(self._models[target.model], target.endpoint, step.remaining_s)
        self._refs.router.notify(StartAttempt(target.deployment, target.attempt > 1))
        started = clock.monotonic()
        handle = await _ask(self._refs.endpoints[target.endpoint], Call("chat"))
        try:
            called: CallResult = await handle.chat(req, deadlines)
        except BackendError as exc:
            return Failed(
                step=step, at=clock.time(), now=clock.monotonic(), error=exc,
                latency_s=clock.monotonic() - started,
            )  # fmt: skip
        result = called.result
        return Succeeded(
            step=step, at=clock.time(), now=clock.monotonic(), latency_s=called.latency_s,
            ttft_s=called.ttft_s, tokens_per_s=called.tokens_per_s, usage=result.usage,
            content=result.content, chars=len(result.content),
            finish_reason=result.finish_reason,
        )  # fmt: skip

    async def _call_streamed(
        self, run: _Run, step: Attempt
    ) -> AsyncGenerator[StreamChunk | Outcome, None]:
        """Call the deployment for a stream: its chunks and the outcomes, in order."""
        target, clock = step.target, self._clock
        req = self._request_for(run, step, True)
        deadlines = _deadlines(self._models[target.model], target.endpoint, step.remaining_s)
        self._refs.router.notify(StartAttempt(target.deployment, target.attempt > 1))
        started = clock.monotonic()
        handle = await _ask(self._refs.endpoints[target.endpoint], Call("stream"))
        async with contextlib.aclosing(handle.stream(req, deadlines)) as chunks:
            async for item in self._stream_chunks(run, step, chunks, started):
                yield item

    async def _stream_chunks(
        self, run: _Run, step: Attempt, chunks: AsyncIterator[Chunk], started: float
    ) -> AsyncGenerator[StreamChunk | Outcome, None]:
        clock, target = self._clock, step.target
        delivered: list[str] = []
        final: Chunk | None = None
        ttft: float | None = None
        try:
            final = await _next(chunks)
            ttft = clock.monotonic() - started
            while not final.done:
                if not delivered:
                    yield Delivered(step=step, at=clock.time(), now=clock.monotonic())
                delivered.append(final.content)
                run.chars += len(final.content)
                yield _piece(run.id, target.model, target.endpoint, final)
                final = await _next(chunks)
        except BackendError as exc:
            yield Failed(
                step=step, at=clock.time(), now=clock.monotonic(), error=exc,
                latency_s=clock.monotonic() - started, partial="".join(delivered),
            )  # fmt: skip
            return
        run.final_chunk = _piece(run.id, target.model, target.endpoint, final)
        yield Succeeded(
            step=step, at=clock.time(), now=clock.monotonic(),
            latency_s=clock.monotonic() - started, ttft_s=ttft, usage=final.usage,
            chars=run.chars, finish_reason=final.finish_reason,
        )  # fmt: skip

    # --- what an attempt's end tells the actors -----------------------------------------

    def _attempt_ended(self, run: _Run, outcome: Outcome) -> None:
        """Report an attempt's end (applied already) to health, router and quota.

        When it ended the request too, the router hears both in one message.
        """
        if not isinstance(outcome, Succeeded | Failed):
            return
        refs, target = self._refs, outcome.step.target
        did = target.deployment
        refs.health.notify(ReportOutcome(did, health_report(run.state, outcome)))
        budget: Literal["ok", "retryable", "other"] = "ok"
        if isinstance(outcome, Failed):
            budget = "retryable" if outcome.error.retryable else "other"
            if outcome.error.failure is FailureClass.MODEL_NOT_FOUND:
                refs.catalog.notify(RefreshSoon(target.endpoint))
        ended = EndAttempt(did, budget)
        if run.state.finished:
            run.router_told = True
            ended = EndAttempt(did, budget, _outcome(run.state), run.state.budget_refusals)
        view = _ask_now(refs.router, ended)
        if view is not None:
            run.view = view
        if target.probe_round is not None:
            refs.health.notify(ReleaseProbe(did, target.probe_round))
        if target.reservation is not None and refs.quota is not None:
            rid = target.reservation
            if isinstance(outcome, Succeeded):
                usage = outcome.usage
                refs.quota.notify(_settle(rid, usage.prompt_tokens if usage else None,
                                             usage.completion_tokens if usage else None,
                                             target.endpoint))  # fmt: skip
            elif run.state.delivered:
                refs.quota.notify(_settle(rid, None, None, target.endpoint))  # text was made
            else:
                reason = f"failed: {outcome.error.failure.value}"
                refs.quota.notify(Release(reservation_id=rid, reason=reason))

    def _abandon(self, run: _Run) -> None:
        """Give back what the request's current attempt holds (cancelled or crashed)."""
        refs, state = self._refs, run.state
        target, pending = state.target, state.pending
        if target is not None:
            refs.router.notify(EndAttempt(target.deployment, "other"))
            if target.probe_round is not None:
                refs.health.notify(ReleaseProbe(target.deployment, target.probe_round))
        reservation = target.reservation if target else pending.reservation if pending else None
        if reservation is not None and refs.quota is not None:
            refs.quota.notify(Release(reservation_id=reservation, reason="cancelled"))

    def _finish(self, run: _Run) -> None:
        """Record the request's events once, and tell the router and the windows."""
        if run.recorded or run.state is _UNSTARTED or not run.state.finished:
            return
        run.recorded = True
        events = run.events
        self._record(REQUEST_STREAM_PREFIX + run.id, events)
        refs = self._refs
        refs.performance.notify(Observe(tuple(events[1:] if run.observed_start else events)))
        if not run.router_told:
            refs.router.notify(EndRequest(_outcome(run.state), run.state.budget_refusals))


class _Run:
    """The driver's side of one request: the machine's state and what it produced."""

    __slots__ = (
        "chars", "events", "final_chunk", "id", "observed_start", "publish", "recorded",
        "request", "router_told", "state", "view",
    )  # fmt: skip

    def __init__(self, request: RouteRequest, request_id: str, publish: Publish) -> None:
        self.request = request
        self.id = request_id
        self.publish = publish
        self.events: list[Event] = []
        self.state: RequestState = _UNSTARTED
        self.view = RetryView()
        self.chars = 0
        """Characters of text delivered to the caller (streams)."""
        self.final_chunk: StreamChunk | None = None
        self.recorded = False
        self.observed_start = False
        """The windows folded ``RequestStarted`` at planning (performance chains)."""
        self.router_told = False
        """The router heard the request's end with its last attempt's."""

    def add(self, events: Sequence[Event]) -> None:
        self.events.extend(events)
        for event in events:
            self.publish(event)

    def apply(self, outcome: Outcome) -> None:
        self.state, events = on_outcome(self.state, outcome)
        if events:
            self.add(events)


_UNSTARTED = RequestState(
    request_id="",
    request=RouteRequest(chain=(), messages=(Message(role="user", content=""),)),
    settings=MachineSettings(),
    stream=False,
    started=0.0,
    chain=(),
    prompt_chars=0,
    finished=True,  # nothing to record for a request that never planned
)


def _outcome(state: RequestState) -> RequestOutcome:
    error = state.error
    if state.reply is not None:
        return "succeeded"
    if error is None:
        return "cancelled"
    if isinstance(error, StreamInterrupted):
        return "interrupted"
    return "rejected" if isinstance(error, RequestRejected) else "failed"


async def _ask(ref: ActorRef[M], message: Ask[R]) -> R:
    """Ask; if the handler failed, ask the restarted actor once more (see module doc)."""
    try:
        return await ref.ask(message, timeout=None)
    except ActorError:
        raise
    except Exception:
        return await ref.ask(message, timeout=None)


def _ask_now(ref: ActorRef[Any], message: Ask[R]) -> R | None:
    """A report whose answer helps but is not needed: the answer if it came inline,
    else None (the report is then queued, as ``notify`` does)."""
    try:
        return ref.ask_nowait(message)
    except WouldBlock:
        pass
    except ActorError:
        return None  # stopped: the runtime is closing, nothing is left to count
    except Exception:
        pass  # the handler failed: the restarted actor takes it once more
    with contextlib.suppress(ActorError):
        ref.tell_nowait(message)
    return None


def _release_later(
    quota: ActorRef[QuotaMessage], step: Reserve, commit: asyncio.Future[None]
) -> None:
    if not commit.cancelled() and commit.exception() is None:
        quota.notify(Release(reservation_id=step.reservation_id, reason="cancelled"))


def _deadlines(settings: ModelSettings, endpoint: str, remaining: float) -> Deadlines:
    """The call's deadlines: the model's on the endpoint, total cut to ``remaining``."""
    base = settings.deadlines.get(endpoint) or _DEFAULT_DEADLINES
    if remaining >= base.total or not math.isfinite(remaining) or remaining <= 0:
        return base
    return msgspec.structs.replace(base, total=remaining)


_DEFAULT_DEADLINES = Deadlines()


async def _next(chunks: AsyncIterator[Chunk]) -> Chunk:
    """The next chunk; an iterator that ends without a ``done`` chunk is a bad response."""
    try:
        return await anext(chunks)
    except StopAsyncIteration:
        raise BackendError(
            FailureClass.BAD_RESPONSE,
            "the stream ended without a final chunk; check the backend's logs",
        ) from None


def _piece(request_id: str, model: str, endpoint: str, chunk: Chunk) -> StreamChunk:
    return StreamChunk(
        content=chunk.content,
        model=model,
        endpoint=endpoint,
        request_id=request_id,
        done=chunk.done,
        finish_reason=chunk.finish_reason,
        usage=chunk.usage,
    )


def _settle(rid: str, prompt: int | None, completion: int | None, endpoint: str) -> Settle:
    return Settle(
        reservation_id=rid, prompt_tokens=prompt, completion_tokens=completion, endpoint=endpoint
    )


_ID_PREFIX = uuid.uuid4().hex[:12]
_ids = itertools.count(1)


def _new_id() -> str:
    """A request id unique across processes: a random per-process prefix, a counter."""
    return f"{_ID_PREFIX}{next(_ids):08x}"
