"""An attempt's call, and what its end tells the actors (a shell).

The call itself runs in the request's task, through the endpoint actor's handle: a
whole reply for ``chat``; for a stream, its chunks, reporting ``Delivered`` before the
first one reaches the caller. Its end is reported to health, the router and the quota
ledger with ``notify`` — synchronous, so a caller cancelling at any moment can never
leave a report half sent.
"""

from __future__ import annotations

import math
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Literal

import msgspec

from actors._clock import Clock
from actors.catalog import RefreshSoon
from actors.endpoint import (
    BackendError,
    Call,
    CallHandle,
    CallResult,
    ChatRequest,
    Chunk,
    Deadlines,
    EmbedRequest,
    FailureClass,
)
from actors.health import ReleaseProbe, ReportOutcome
from actors.quota import Release, Settle
from actors.router._machine import health_report
from actors.router._messages import EndAttempt, StartAttempt
from actors.router._run import OpenStream, Refs, RunningRequest, ask, outcome_of
from actors.router._steps import Attempt, Delivered, Failed, Outcome, Succeeded
from actors.router._types import ModelSettings, StreamChunk
from actors.router._usage import counted_usage

__all__ = ["Calls"]


class Calls:
    """Makes the calls of a runtime's requests and reports their ends."""

    def __init__(
        self,
        refs: Refs,
        models: Mapping[str, ModelSettings],
        clock: Clock,
        discovered: ModelSettings | None = None,
    ) -> None:
        self._refs = refs
        self._models = models
        self._discovered = discovered
        self._clock = clock

    def _settings(self, model: str) -> ModelSettings:
        """A configured model's settings, else (a discovered model) the shared ones."""
        settings = self._models.get(model) or self._discovered
        if settings is None:
            raise KeyError(f"model {model!r} is neither configured nor discovered")
        return settings

    async def _admitted_call(
        self,
        run: RunningRequest,
        step: Attempt,
        op: Literal["chat", "stream", "embed"],
        now: float | None,
    ) -> tuple[CallHandle, ChatRequest, Deadlines, float]:
        """What every call starts with: the backend request (the call's parameters over
        the model's defaults), its deadlines, the router told, the endpoint's handle.

        ``now`` is the step's monotonic reading (the driver read it deciding the step,
        with no await since); None: read the clock here."""
        target, request = step.target, run.request
        settings = self._settings(target.model)
        req = ChatRequest(
            model=target.model,
            messages=request.messages,
            stream=op == "stream",
            params=request.params.over(settings.defaults),
        )
        deadlines = _deadlines(settings, target.endpoint, step.remaining_s)
        self._refs.router.notify(StartAttempt(target.deployment, target.attempt > 1))
        started = self._clock.monotonic() if now is None else now
        handle = await ask(self._refs.endpoints[target.endpoint], Call(op))
        return handle, req, deadlines, started

    async def call(
        self, run: RunningRequest, step: Attempt, now: float | None = None
    ) -> Succeeded | Failed:
        """Call the deployment for a whole reply (or, for an embeddings request, its
        vectors, kept in ``run.vectors``). ``now``: the step's monotonic reading."""
        clock = self._clock
        if run.request.inputs:
            return await self._embed(run, step, now)
        handle, req, deadlines, started = await self._admitted_call(run, step, "chat", now)
        try:
            called: CallResult = await handle.chat(req, deadlines)
        except BackendError as exc:
            now = clock.monotonic()
            return Failed(
                step=step, at=clock.time(), now=now, error=exc,
                latency_s=now - started, timings=handle.timings,
            )  # fmt: skip
        result = called.result
        return Succeeded(
            step=step, at=clock.time(), now=clock.monotonic(), latency_s=called.latency_s,
            ttft_s=called.ttft_s, tokens_per_s=called.tokens_per_s, usage=result.usage,
            content=result.content, chars=len(result.content),
            finish_reason=result.finish_reason, tool_calls=result.tool_calls,
            logprobs=result.logprobs, timings=handle.timings,
        )  # fmt: skip

    async def _embed(
        self, run: RunningRequest, step: Attempt, now: float | None
    ) -> Succeeded | Failed:
        clock, request = self._clock, run.request
        handle, _, deadlines, started = await self._admitted_call(run, step, "embed", now)
        req = EmbedRequest(
            model=step.target.model,
            inputs=request.inputs,
            dimensions=request.dimensions,
            options={
                **self._settings(step.target.model).defaults.options,
                **request.params.options,
            },
        )
        try:
            called = await handle.embed(req, deadlines)
        except BackendError as exc:
            now = clock.monotonic()
            return Failed(
                step=step, at=clock.time(), now=now, error=exc,
                latency_s=now - started, timings=handle.timings,
            )  # fmt: skip
        run.vectors = called.result.vectors
        return Succeeded(
            step=step, at=clock.time(), now=clock.monotonic(), latency_s=called.latency_s,
            usage=called.result.usage, timings=handle.timings,
        )  # fmt: skip

    async def open_stream(
        self, run: RunningRequest, step: Attempt, now: float | None = None
    ) -> Outcome:
        """Call the deployment for a stream, up to its first chunk.

        Returns ``Delivered`` with the open stream in ``run.opened`` when text is about
        to reach the caller; ``Failed`` when it failed before any; ``Succeeded`` (and
        ``run.final_chunk``) for a stream that ended before any text. ``now``: the
        step's monotonic reading.
        """
        clock = self._clock
        handle, req, deadlines, started = await self._admitted_call(run, step, "stream", now)
        chunks = handle.stream(req, deadlines)
        try:
            first = await _next(chunks)
        except BackendError as exc:
            await chunks.aclose()
            now = clock.monotonic()
            return Failed(
                step=step, at=clock.time(), now=now, error=exc,
                latency_s=now - started, timings=handle.timings,
            )  # fmt: skip
        except BaseException:
            await chunks.aclose()
            raise
        now = clock.monotonic()
        ttft = now - started
        target, timings = step.target, handle.timings
        if first.done:
            await chunks.aclose()
            run.final_chunk = _piece(run.id, target.model, target.endpoint, first)
            return Succeeded(
                step=step, at=clock.time(), now=clock.monotonic(), latency_s=ttft,
                ttft_s=ttft, usage=first.usage, finish_reason=first.finish_reason,
                tool_calls=first.tool_calls, timings=timings,
            )  # fmt: skip
        run.opened = OpenStream(
            step=step, chunks=chunks, first=first, started=started, ttft=ttft, timings=timings
        )
        return Delivered(step=step, at=clock.time(), now=now)

    async def relay(
        self, run: RunningRequest, opened: OpenStream
    ) -> AsyncGenerator[StreamChunk | Outcome, None]:
        """The open stream's chunks, from the first, then its final outcome."""
        clock, step, started = self._clock, opened.step, opened.started
        target = step.target
        delivered: list[str] = []
        chunk = opened.first
        try:
            while not chunk.done:
                delivered.append(chunk.content)
                run.chars += len(chunk.content)
                yield _piece(run.id, target.model, target.endpoint, chunk)
                chunk = await _next(opened.chunks)
        except BackendError as exc:
            now = clock.monotonic()
            yield Failed(
                step=step, at=clock.time(), now=now, error=exc,
                latency_s=now - started, partial="".join(delivered),
                timings=opened.timings,
            )  # fmt: skip
            return
        run.final_chunk = _piece(run.id, target.model, target.endpoint, chunk)
        now = clock.monotonic()
        yield Succeeded(
            step=step, at=clock.time(), now=now,
            latency_s=now - started, ttft_s=opened.ttft, usage=chunk.usage,
            chars=run.chars, finish_reason=chunk.finish_reason, tool_calls=chunk.tool_calls,
            timings=opened.timings,
        )  # fmt: skip

    # --- what an attempt's end tells the actors -----------------------------------------

    def ended(self, run: RunningRequest, outcome: Outcome) -> None:
        """Report an attempt's end (applied already) to health, router and quota.

        When it ended the request too, the router hears both in one message.
        """
        if not isinstance(outcome, _ENDS):
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
            ended = EndAttempt(did, budget, outcome_of(run.state), run.state.budget_refusals)
        view = refs.router.notify(ended)  # the budget view, when answered inline
        if view is not None:
            run.view = view
        if target.probe_round is not None:
            refs.health.notify(ReleaseProbe(did, target.probe_round))
        if target.reservation is not None and refs.quota is not None:
            rid = target.reservation
            if isinstance(outcome, Succeeded):
                # The counts AttemptSucceeded records (implausible figures bounded).
                usage = counted_usage(run.state, did, outcome.usage)
                refs.quota.notify(_settle(rid, usage.prompt_tokens, usage.completion_tokens,
                                             target.endpoint))  # fmt: skip
            elif run.state.delivered:
                refs.quota.notify(_settle(rid, None, None, target.endpoint))  # text was made
            else:
                reason = f"failed: {outcome.error.failure.value}"
                refs.quota.notify(Release(reservation_id=rid, reason=reason))

    def abandon(self, run: RunningRequest) -> None:
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


def _deadlines(settings: ModelSettings, endpoint: str, remaining: float) -> Deadlines:
    """The call's deadlines: the model's on the endpoint, total cut to ``remaining``."""
    base = settings.deadlines.get(endpoint) or _DEFAULT_DEADLINES
    if remaining >= base.total or not math.isfinite(remaining) or remaining <= 0:
        return base
    return msgspec.structs.replace(base, total=remaining)


_DEFAULT_DEADLINES = Deadlines()
_ENDS = (Succeeded, Failed)


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
        tool_calls=chunk.tool_calls,
        logprobs=chunk.logprobs,
    )


def _settle(rid: str, prompt: int | None, completion: int | None, endpoint: str) -> Settle:
    return Settle(
        reservation_id=rid, prompt_tokens=prompt, completion_tokens=completion, endpoint=endpoint
    )
