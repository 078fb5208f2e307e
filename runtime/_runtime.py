"""``Runtime``: the facade users embed (the public API contract in DESIGN.md).

Example::

    async with Runtime.from_config("llm.yaml") as rt:
        reply = await rt.chat([{"role": "user", "content": "hi"}], role="generator")
        async for chunk in rt.stream(messages, model="llama3.2:3b"):
            print(chunk.content, end="")
        print(rt.health())

Concurrency model (details in each actor's module docstring): every piece of shared
state is owned by one actor (endpoints, catalog, health, quota, performance, router)
and reached only through its ``ActorRef`` with typed messages. A request is not an
actor: ``chat`` and ``stream`` run a pure request machine in the caller's task
(``actors.router.Driver``), asking the actors as it goes. Their handlers are
synchronous, so an idle actor answers inline and concurrent requests are concurrent,
never queued behind one mailbox; the HTTP call
runs outside any actor's turn. Background work (health checks, model-list refreshes)
is timer messages of those same actors, on the injected clock. A failing actor is
restarted under supervision and rebuilds its state from the log. Events go to the log's
own queue and are committed in the background (see ``runtime._pipeline`` for the
durability this trades); a new request waits for room while that queue is full.

Quotas fail closed: with a limit, each attempt's reservation is committed before its
backend call (``actors.quota._actor``). With ``event_log.acknowledge: after_commit``
a call hands back its result only once its events are committed (``acknowledged``).

The synchronous readers (``health()``, ``usage()``...) ask the actors with
``ask_nowait``; while an actor restarts they raise ``StateUnavailable``. The lifecycle
(states, the lock, draining at close) is ``runtime._lifecycle``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar, Unpack

import httpx

from actors import Clock
from actors.escalation import CheckFn, EscalationResult, escalate
from actors.health import GetHealth, ResetHealth
from actors.router import Embeddings, Reply, RouteRequest, StreamChunk
from events import EventLog, LLMRuntimeError, get_logger
from runtime._api_keys import resolve_api_keys
from runtime._assembly import Options, Parts, assemble, dismantle
from runtime._config import RuntimeConfig
from runtime._config_load import load_config
from runtime._lifecycle import Calls, Lifecycle, RuntimeState
from runtime._observing import Observing
from runtime._params import GenerationParams
from runtime._pipeline import acknowledged
from runtime._probe import ProbeResult, probe_deployments, tracked_deployments
from runtime._request import MessagesLike, Resolver
from runtime._statistics import RuntimeStatistics, read
from runtime._summary import HealthSummary, summarize

__all__ = ["Runtime", "RuntimeStatistics"]

log = get_logger(__name__)

_T = TypeVar("_T")


class Runtime(Observing):
    """Reliable access to LLM backends: routing, retries, fallback, health, events."""

    def __init__(
        self,
        config: RuntimeConfig,
        *,
        api_keys: Mapping[str, str | None] | None = None,
        clock: Clock | None = None,
        rng: Callable[[], float] | None = None,
        event_log: EventLog | None = None,
        transport: Callable[[str], httpx.AsyncBaseTransport | None] | None = None,
    ) -> None:
        """Prepare a runtime for ``config``; nothing starts until ``start`` / ``async with``.

        Args:
            config: A validated config (``load_config`` or built in Python).
            api_keys: Endpoint name -> API key; ``from_config`` reads them from the
                environment variables the config names.
            clock: Time for health checks, quarantines, backoff (``ManualClock`` in tests).
            rng: Uniform draws in ``[0, 1)`` for backoff jitter.
            event_log: A log to use instead of opening ``config.event_log.path``.
            transport: Endpoint name -> httpx transport, for tests.
        """
        self._config = config
        self._api_keys = dict(api_keys or {})
        self._options = Options(clock=clock, rng=rng, event_log=event_log, transport=transport)
        self._resolver = Resolver(config)
        self._parts: Parts | None = None
        self._lifecycle = Lifecycle()
        self._calls = Calls()

    @classmethod
    def from_config(
        cls,
        source: str | os.PathLike[str] | RuntimeConfig,
        *,
        environ: Mapping[str, str] | None = None,
        clock: Clock | None = None,
        rng: Callable[[], float] | None = None,
        event_log: EventLog | None = None,
        transport: Callable[[str], httpx.AsyncBaseTransport | None] | None = None,
    ) -> Runtime:
        """A runtime for a YAML/TOML file or a ``RuntimeConfig``; validated whole first.

        Raises:
            ConfigError: The file or config is invalid, or an API key variable is
                missing; every problem is listed and nothing was started.
        """
        config = source if isinstance(source, RuntimeConfig) else load_config(source)
        keys = resolve_api_keys(config, os.environ if environ is None else environ)
        return cls(
            config, api_keys=keys, clock=clock, rng=rng, event_log=event_log, transport=transport
        )

    @property
    def config(self) -> RuntimeConfig:
        """The configuration in force."""
        return self._config

    # --- lifecycle ----------------------------------------------------------------------

    @property
    def state(self) -> RuntimeState:
        """Where the runtime is in its life: unopened, starting, open, closing, closed."""
        return self._lifecycle.state

    async def start(self) -> None:
        """Open the log, rebuild state by replay, start the background actors.

        Idempotent while open; concurrent calls start once. A failed start leaves the
        runtime unopened (nothing left running), so it can be tried again.

        Raises:
            RuntimeNotRunning: The runtime was closed (create a new one).
            EventLogError: The event log could not be opened (``InvalidLogFile``,
                ``StorageUnavailable``...); every error is an ``LLMRuntimeError``.
        """
        lifecycle = self._lifecycle
        async with lifecycle.lock:
            if lifecycle.state is RuntimeState.OPEN:
                return
            if lifecycle.state is not RuntimeState.UNOPENED:
                raise lifecycle.refuse()
            lifecycle.move(RuntimeState.STARTING)
            try:
                self._parts = await assemble(self._config, self._api_keys, self._options)
            except BaseException:
                lifecycle.move(RuntimeState.UNOPENED)
                raise
            lifecycle.move(RuntimeState.OPEN)

    async def aclose(self) -> None:
        """Refuse new calls, drain those in flight (``shutdown.drain_seconds``, then
        cancel them: they raise ``RuntimeNotRunning``), then stop the actors, flush the
        events, close clients and the log. Idempotent; waits for a ``start`` underway."""
        lifecycle = self._lifecycle
        async with lifecycle.lock:
            if lifecycle.state is RuntimeState.CLOSED:
                return
            if lifecycle.state is RuntimeState.UNOPENED:
                lifecycle.move(RuntimeState.CLOSED)
                return
            lifecycle.move(RuntimeState.CLOSING)
            try:
                cancelled = await self._calls.drain(self._config.shutdown.drain_seconds)
                if cancelled:
                    log.warning("runtime.close.cancelled_calls", calls=cancelled)
                parts, self._parts = self._parts, None
                if parts is not None:
                    await dismantle(parts)
            finally:
                lifecycle.move(RuntimeState.CLOSED)

    async def __aenter__(self) -> Runtime:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _running(self) -> Parts:
        """The parts, for readers: open, or closing (calls are refused by ``_accepting``)."""
        parts = self._parts
        if parts is None:
            raise self._lifecycle.refuse()
        return parts

    def _accepting(self) -> Parts:
        """The parts, for a new call: only while open."""
        if self._lifecycle.state is not RuntimeState.OPEN or self._parts is None:
            raise self._lifecycle.refuse()
        return self._parts

    # --- requests -----------------------------------------------------------------------

    async def chat(
        self,
        messages: MessagesLike,
        *,
        role: str | None = None,
        model: str | None = None,
        kind: str | None = None,
        **params: Unpack[GenerationParams],
    ) -> Reply:
        """A complete reply from the role's chain (or the one model asked for).

        ``messages`` take the OpenAI chat shape (text or parts with images, assistant
        ``tool_calls``, ``tool`` messages); ``params`` are ``max_tokens``,
        ``temperature``, ``top_p``, ``top_k``, ``seed``, ``stop``, the penalties,
        ``logprobs``, ``tools``, ``tool_choice``, ``response_format`` and ``options``
        (see ``GenerationParams`` and the README's table of where each one goes).

        Raises:
            InvalidRequest: Bad arguments (no/both role and model, unknown role...).
            UnsupportedParameter: A deployment the call may reach cannot carry one of
                its parameters (no request was sent).
            ModelNotFoundError: ``model`` is not served (no request was sent).
            QuotaExceeded: A daily quota is used up (no request was sent for it).
            QuotaUnavailable: The quota reservation could not be recorded (refused).
            NoCandidates: Every deployment is quarantined, failed or lacks the model.
            AllCandidatesFailed: Every attempt failed; ``.attempts`` lists them.
            RequestRejected: The backend refused the request itself.
        """
        return await self._answer(
            lambda parts: self._resolver.request(
                parts.refs, messages, role=role, model=model, kind=kind, params=params
            ),
            lambda parts, request: parts.driver.chat(request),
        )

    async def stream(
        self,
        messages: MessagesLike,
        *,
        role: str | None = None,
        model: str | None = None,
        kind: str | None = None,
        **params: Unpack[GenerationParams],
    ) -> AsyncGenerator[StreamChunk, None]:
        """Chunks of the reply as they come; the last has ``done=True``, the usage and
        any ``tool_calls`` (assembled from the stream's deltas). Arguments as ``chat``.

        Fallback happens only before the first chunk; a failure after it raises
        ``StreamBroken`` with the partial text. Other errors as for ``chat``.
        Leaving the loop early: close it (``contextlib.aclosing`` or ``aclose()``) so
        the upstream call is cancelled now rather than when it is garbage collected.
        """
        parts = self._accepting()
        parts.guard.admit()
        with self._calls.track() as call:
            await parts.log.wait_for_room()
            request = await self._resolver.request(
                parts.refs, messages, role=role, model=model, kind=kind, params=params
            )
            async with contextlib.aclosing(parts.driver.stream(request)) as chunks:
                try:
                    async for chunk in self._calls.relay(call, chunks):
                        if chunk.done:
                            await acknowledged(parts)
                        yield chunk
                except LLMRuntimeError:
                    await acknowledged(parts)
                    raise

    async def embed(
        self,
        inputs: str | Sequence[str],
        *,
        role: str | None = None,
        model: str | None = None,
        kind: str | None = None,
        dimensions: int | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> Embeddings:
        """One vector per input, in order, from the role's chain (or the model asked
        for): the same routing, health, retries, fallbacks, quota (prompt tokens) and
        events as ``chat`` (``RequestStarted.operation`` is ``embed``).

        Raises: as ``chat``.
        """
        return await self._answer(
            lambda parts: self._resolver.embed_request(
                parts.refs,
                inputs,
                role=role,
                model=model,
                kind=kind,
                dimensions=dimensions,
                options=options,
            ),
            lambda parts, request: parts.driver.embed(request),
        )

    async def _answer(
        self,
        resolve: Callable[[Parts], Awaitable[RouteRequest]],
        drive: Callable[[Parts, RouteRequest], Awaitable[_T]],
    ) -> _T:
        """One call with a single answer: admitted, tracked, room in the log waited
        for, resolved, driven; handed back once acknowledged."""
        parts = self._accepting()
        parts.guard.admit()
        with self._calls.track():
            await parts.log.wait_for_room()
            request = await resolve(parts)
            try:
                answer = await drive(parts, request)
            except LLMRuntimeError:
                await acknowledged(parts)
                raise
            if parts.config.event_log.after_commit:  # else nothing to wait for
                await acknowledged(parts)
            return answer

    # --- health -------------------------------------------------------------------------

    def health(self) -> HealthSummary:
        """Every model's status (the best of its deployments') and each deployment's,
        and whether the event log writes (``event_log``)."""
        parts = self._running()
        states = read(parts.refs.health, GetHealth()).states
        return summarize(self._config, states, parts.guard.health(), now=parts.clock.time())

    async def reset_health(self, target: str, *, reason: str = "manual reset") -> tuple[str, ...]:
        """Reset to ``unknown`` a model's deployments (name or alias), one deployment
        (``model@endpoint``) or every deployment on an endpoint (its name); waits until
        the ``HealthReset`` events are committed.

        Returns:
            The deployment ids reset.

        Raises:
            InvalidRequest: ``target`` names no model, deployment or endpoint.
        """
        parts = self._running()
        chosen = self._resolver.targets(tracked_deployments(parts), target)
        await parts.refs.health.ask(ResetHealth(chosen, reason), timeout=None)
        await parts.log.flush()
        log.info("runtime.health.reset", target=target, deployments=len(chosen))
        return chosen

    async def probe(self, target: str) -> tuple[ProbeResult, ...]:
        """Run the health check of ``target``'s deployments (as ``reset_health``) now
        and count each outcome; a passing check clears a quarantine (``runtime._probe``)."""
        parts = self._running()
        return await probe_deployments(
            parts, self._resolver.targets(tracked_deployments(parts), target)
        )

    # --- usage, performance, escalation ---------------------------------------------------

    async def escalate(
        self,
        *,
        goal: str,
        check: CheckFn,
        generator_role: str = "generator",
        escalation_role: str = "escalation",
        overseer_role: str | None = None,
        tools: Iterable[str] = (),
        max_attempts: int = 3,
        kind: str | None = "code",
        store_bodies: bool | None = None,
    ) -> EscalationResult:
        """Generate code for ``goal`` with ``generator_role``, ``check`` it, and hand
        failures with full context (goal, strategy, tools, code, error, output) to
        ``escalation_role``, up to ``max_attempts`` times.

        Every step is an event in stream ``escalation/<id>`` of this runtime's log
        (recorded in the background, like the routing events) and is published to
        ``subscribe``/``on``. See ``actors.escalation.escalate`` for the arguments;
        ``store_bodies`` None follows ``event_log.store_bodies``.

        Returns:
            ``succeeded_on`` (0: the first candidate), the code, every attempt; or why
            it failed (a chat error ends it with a failed result, ``.error`` holds it).
        """
        parts = self._accepting()
        bodies = parts.config.event_log.store_bodies if store_bodies is None else store_bodies
        return await escalate(
            goal=goal, check=check, chat=self.chat, append=parts.appender.record_and_publish,
            generator_role=generator_role, escalation_role=escalation_role,
            overseer_role=overseer_role, tools=tuple(tools), max_attempts=max_attempts,
            kind=kind, now=parts.clock.time, store_bodies=bodies,
        )  # fmt: skip
