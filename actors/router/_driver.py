"""The request driver: runs one request's pure machine, in the caller's task (a shell).

A request is a conversation with the actors, not an actor. The driver asks the health
actor, the catalog and the performance windows for what planning needs (``_view``),
asks the router to plan, then loops: ``next_step`` says what to do, the driver does it —
reserve quota, ask health to admit, call the endpoint (through its actor's handle),
sleep a backoff, ask the router for a fallback — and feeds what happened back through
``on_outcome``. One loop serves ``chat`` and ``stream``; the only difference is the
call itself (``_calls``: a whole reply, or chunks yielded to the caller).

Asks whose answer matters are awaited (inline when the actor is idle). Reports that
need no answer (an attempt's end to health, router and quota; a probe permit given
back) are ``notify``s: synchronous, inline when the actor is idle and queued
otherwise, so a caller cancelling at any moment can never leave one half sent.

A request's events are published as they happen and recorded as one batch for stream
``request/<id>`` when it ends; the performance windows are told the batch then (and a
request ranked by performance its start at once, for the exploration counter). The
monotonic clock is read once a step. Cancellation (the caller cancels ``chat`` or closes
the stream) ends the request with ``RequestCancelled`` and gives back what it held.

Supervision: if an actor's handler fails while answering, the actor is restarted from
the log and the driver sends the same message once more (the messages are idempotent
or counted at least once); a second failure ends the request.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Callable, Coroutine, Mapping, Sequence
from typing import Any, cast

from actors._clock import Clock
from actors.health import AcquireProbe
from actors.health import NotAdmitted as HealthNotAdmitted
from actors.performance import Observe
from actors.quota import Release
from actors.router._bodies import Mask
from actors.router._calls import Calls
from actors.router._machine import (
    MachineSettings,
    next_step,
    prompt_chars,
    prompt_hash,
    start,
)
from actors.router._messages import (
    EndRequest,
    PlanFallback,
    Planned,
    PlanRoute,
)
from actors.router._reserve import reserve
from actors.router._run import (
    UNSTARTED,
    Refs,
    RunningRequest,
    ask,
    new_id,
    outcome_of,
)
from actors.router._steps import (
    Admit,
    Admitted,
    Attempt,
    Cancelled,
    Crashed,
    Delivered,
    Done,
    Finish,
    NotAdmitted,
    Outcome,
    PassOver,
    Repeat,
    Replan,
    Replanned,
    Reserve,
    Step,
    Wait,
)
from actors.router._types import Embeddings, ModelSettings, Reply, RouteRequest, StreamChunk
from actors.router._view import Views
from events import REQUEST_STREAM_PREFIX, Event

__all__ = ["Driver", "Refs"]

Record = Callable[[str, Sequence[Event]], None]
Publish = Callable[[Event], None]


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
        mask: Mask | None = None,
        discovered: ModelSettings | None = None,
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
            mask: With ``event_log.store_bodies``, masks secrets in the messages and
                replies then stored on the request's events; None: no bodies stored.
            discovered: The settings of a model that is not configured but discovered
                (its route is the catalog's: round robin over the endpoints listing it);
                None: only configured models are routed.
        """
        self._refs = refs
        self._models = dict(models)
        self._calls = Calls(refs, self._models, clock, discovered)
        self._discovers = discovered is not None
        self._settings = settings
        self._clock = clock
        self._rng = rng
        self._record = record
        self._publish = publish
        self._mask = mask
        self._ranked = frozenset(
            name for name, model in self._models.items() if model.route.strategy == "performance"
        )
        self._views = Views(refs, self._models, settings, self._ranked, discovers=self._discovers)

    def chat(self, request: RouteRequest) -> Coroutine[Any, Any, Reply]:
        """Route one request to a complete reply (await it).

        Raises:
            NoCandidates: No deployment of the chain is admissible.
            AllCandidatesFailed: Every attempt failed (each one listed).
            RequestRejected: The backend refused the request itself.
            QuotaExceeded, QuotaUnavailable: The quota refused it or could not record it.
        """
        # The loop's coroutine itself, not a wrapper: one frame less on every resume. For a
        # chat the loop returns the reply or raises.
        drive = self._drive(self._running(request), stream=False)
        return cast(Coroutine[Any, Any, Reply], drive)

    async def embed(self, request: RouteRequest) -> Embeddings:
        """Route one embeddings request (``request.inputs``) to its vectors.

        The same loop as ``chat``: routing, health, retries, fallbacks, quota (prompt
        tokens only) and events; the call is the endpoint's embeddings route.

        Raises: as ``chat``.
        """
        if not request.inputs:
            raise ValueError("an embeddings request needs inputs")
        run = self._running(request)
        reply = await self._drive(run, stream=False)
        assert reply is not None
        return Embeddings(
            vectors=run.vectors, model=reply.model, endpoint=reply.endpoint,
            usage=reply.usage, request_id=reply.request_id, attempts=reply.attempts,
            latency_s=reply.latency_s, role=reply.role,
        )  # fmt: skip

    async def stream(self, request: RouteRequest) -> AsyncGenerator[StreamChunk, None]:
        """Route one request to a stream of chunks (fallback only before the first).

        The machine runs (``_drive``) until text is about to reach the caller; from
        there on only the stream's end is left to decide, and it is relayed here.

        Raises (while iterating): as ``chat``, before any chunk; ``StreamBroken``
        after chunks were yielded (it carries the partial text).
        """
        run = self._running(request)
        await self._drive(run, stream=True)
        opened = run.opened
        if opened is None:  # the stream ended before any text: the final chunk only
            assert run.final_chunk is not None
            yield run.final_chunk
            return
        clock = self._clock
        try:
            async with contextlib.aclosing(self._calls.relay(run, opened)) as items:
                async for item in items:
                    if isinstance(item, StreamChunk):
                        yield item
                        continue
                    run.apply(item)
                    self._calls.ended(run, item)
            now = clock.monotonic()
            step = next_step(run.state, run.view, now, 0.0)
            assert isinstance(step, Finish)  # nothing is left to try once text was sent
            run.apply(Done(step=step, at=clock.time(), now=now))
            if step.error is not None:
                raise step.error
            # Recorded as succeeded before the final chunk, so a caller that stops
            # right after it is not "cancelled".
            self._finish(run)
            assert run.final_chunk is not None
            yield run.final_chunk
        except (asyncio.CancelledError, GeneratorExit):
            self._cancelled(run)
            raise
        except Exception as exc:
            self._crashed(run, exc)
            raise
        finally:
            await opened.chunks.aclose()  # the upstream call ends now, not at GC
            self._finish(run)

    # --- the loop -----------------------------------------------------------------------

    def _running(self, request: RouteRequest) -> RunningRequest:
        return RunningRequest(request, request.request_id or new_id(), self._publish, self._mask)

    async def _drive(self, run: RunningRequest, *, stream: bool) -> Reply | None:
        """Run the machine until the request is over — or, for a stream, until its first
        chunk is about to reach the caller (``run.opened``). Returns the reply (chat)."""
        clock, request = self._clock, run.request
        planned = await self._plan_route(run, stream)
        if request.rank_models or not self._ranked.isdisjoint(request.chain):
            # The next plan's exploration counter must count this request already.
            run.observed_start = True
            self._refs.performance.notify(Observe(planned.events[:1]))
        now = clock.monotonic()  # one reading a step: the last outcome's, passed down
        run.state = start(
            request, run.id, planned.plan, settings=self._settings, stream=stream,
            now=now, windows=run.windows,
        )  # fmt: skip
        run.view = planned.view
        try:
            while True:
                step = next_step(run.state, run.view, now, self._rng())
                if isinstance(step, Finish):
                    run.apply(Done(step=step, at=clock.time(), now=now))
                    if step.error is not None:
                        raise step.error
                    return step.reply
                if isinstance(step, Attempt):
                    calls = self._calls
                    if stream:
                        outcome = await calls.open_stream(run, step, now)
                    else:
                        outcome = await calls.call(run, step, now)
                    run.apply(outcome)
                    if isinstance(outcome, Delivered):
                        return None  # the stream relays the rest
                    calls.ended(run, outcome)
                    now = outcome.now
                    continue
                run.apply(outcome := await self._carry_out(run, step, now))
                now = outcome.now
        except (asyncio.CancelledError, GeneratorExit):
            self._cancelled(run)
            raise
        except Exception as exc:
            self._crashed(run, exc)
            raise
        finally:
            self._finish(run)

    def _cancelled(self, run: RunningRequest) -> None:
        """The caller gave up: give back what the attempt holds, record the end."""
        clock = self._clock
        self._calls.abandon(run)
        run.apply(Cancelled(at=clock.time(), now=clock.monotonic(), partial_chars=run.chars))

    def _crashed(self, run: RunningRequest, exc: Exception) -> None:
        """Something other than the machine's own verdict ended it (an actor gone...)."""
        if not run.state.finished:
            clock = self._clock
            self._calls.abandon(run)
            run.apply(Crashed(at=clock.time(), now=clock.monotonic(), error=exc))

    async def _carry_out(self, run: RunningRequest, step: Step, now: float) -> Outcome:
        """One step that is not a call: what happened (``now``: the step's reading)."""
        clock, refs = self._clock, self._refs
        match step:
            case Wait(seconds=seconds):
                await clock.sleep(seconds)
                return Done(step=step, at=clock.time(), now=clock.monotonic())
            case Replan():
                return await self._replan(run, step)
            case Reserve():
                return await reserve(self._refs, self._clock, run, step)
            case Admit(deployment=did, reservation=reservation):
                records = run.state.records  # its own cool-down does not hold it back
                again = bool(records) and any(r.deployment == did for r in records)
                answer = await ask(refs.health, AcquireProbe(did, retrying=again))
                at, now = clock.time(), clock.monotonic()
                if isinstance(answer, HealthNotAdmitted):
                    if reservation is not None and refs.quota is not None:
                        reason = "not attempted: deployment unavailable"
                        refs.quota.notify(Release(reservation_id=reservation, reason=reason))
                    return NotAdmitted(
                        step=step, at=at, now=now, reason=answer.reason, detail=answer.detail
                    )
                return Admitted(step=step, at=at, now=now, probe_round=answer.probe_round)
            case Repeat(seconds=seconds) if seconds > 0:  # a rate limit refills
                await clock.sleep(seconds)
                return Done(step=step, at=clock.time(), now=clock.monotonic())
            case PassOver() | Repeat():  # nothing to do but note it
                return Done(step=step, at=clock.time(), now=now)
            case _:
                raise TypeError(f"not a step to carry out here: {step!r}")

    # --- planning -----------------------------------------------------------------------

    async def _plan_route(self, run: RunningRequest, stream: bool) -> Planned:
        request = run.request
        views = self._views
        health, surveyed, ranked, routes = await views.view(run, request.chain, request.rank_models)
        planned = await ask(
            self._refs.router,
            PlanRoute(
                request_id=run.id, chain=request.chain, at=self._clock.time(),
                role=request.role, model=request.model, kind=request.kind, stream=stream,
                prompt_chars=prompt_chars(request),
                prompt_hash=prompt_hash(request.messages, request.inputs),
                messages=len(request.inputs or request.messages),
                operation="embed" if request.inputs else "chat",
                blocked=health.blocked, unlisted=surveyed.unlisted, performance=ranked,
                degraded=health.degraded, routes=routes, rank_models=request.rank_models,
            ),
        )  # fmt: skip
        run.add(planned.events)
        return planned

    async def _replan(self, run: RunningRequest, step: Replan) -> Replanned:
        request = run.request
        health, surveyed, ranked, routes = await self._views.view(run, step.rest)
        at = self._clock.time()
        planned = await ask(
            self._refs.router,
            PlanFallback(
                request_id=run.id, rest=step.rest, at=at, role=request.role,
                kind=request.kind, from_model=step.from_model, reason=step.reason,
                detail=step.detail, blocked=health.blocked, unlisted=surveyed.unlisted,
                performance=ranked, degraded=health.degraded, routes=routes,
            ),
        )  # fmt: skip
        run.view = planned.view
        return Replanned(
            step=step, at=at, now=self._clock.monotonic(), plan=planned.plan,
            events=planned.events,
        )  # fmt: skip

    # --- the call -----------------------------------------------------------------------

    def _finish(self, run: RunningRequest) -> None:
        """Record the request's events once, and tell the router and the windows."""
        if run.recorded or run.state is UNSTARTED or not run.state.finished:
            return
        run.recorded = True
        events = run.events
        self._record(REQUEST_STREAM_PREFIX + run.id, events)
        refs = self._refs
        refs.performance.notify(Observe(tuple(events[1:] if run.observed_start else events)))
        if not run.router_told:
            refs.router.notify(EndRequest(outcome_of(run.state), run.state.budget_refusals))
