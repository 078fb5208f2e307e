"""The escalation shell: chats, checks and appends around the pure core.

Flow (seed 002, "escalation with full context")::

    overseer role plans the approach (optional)
    generator role writes candidate 0 ─► check
    on failure, up to ``max_attempts`` times:
        escalation role gets goal + strategy + tools + code + error + stdout ─► check

Every step is an event in stream ``escalation/<id>`` (see ``events._escalation``).

Error policy:

- a **chat** error (e.g. the runtime's ``AllCandidatesFailed``) ends the escalation:
  ``EscalationFailed`` is appended and a failed ``EscalationResult`` is *returned*, with
  the reason and the exception in ``.error`` — a failed escalation is an outcome the
  caller handles in one place, whatever the cause;
- an error raised by the caller's **check** is a bug in the caller's code:
  ``EscalationFailed`` is appended, then the error propagates;
- an **append** error propagates (the log is the record; carrying on without it would
  leave the escalation unexplained);
- ``CancelledError`` always propagates, nothing is appended for it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from actors.escalation._logic import (
    AttemptOutcome,
    CheckResult,
    EscalationContext,
    EscalationResult,
    build_fix_prompt,
    build_generation_prompt,
    build_strategy_prompt,
    check_event,
    error_summary,
    extract_code,
    text_hash,
)
from events import (
    ESCALATION_STREAM_PREFIX,
    CandidateGenerated,
    EscalationFailed,
    EscalationStarted,
    EscalationSucceeded,
    Event,
    StrategyProduced,
    get_logger,
)

__all__ = ["AppendFn", "ChatFn", "ChatReply", "CheckFn", "escalate"]

log = get_logger(__name__)

AppendFn = Callable[[str, Sequence[Event]], Awaitable[object]]
"""``append(stream, events)``: records events (the runtime appends them in the background)."""
CheckFn = Callable[[str], Awaitable[CheckResult]]
"""``check(code)``: runs/tests a candidate."""


class ChatReply(Protocol):
    """What the workflow reads from a chat reply (``runtime.Reply`` has it)."""

    @property
    def content(self) -> str:
        """The reply text."""

    @property
    def model(self) -> str:
        """The model that answered."""

    @property
    def request_id(self) -> str:
        """The runtime request id."""


class ChatFn(Protocol):
    """``rt.chat``-shaped: ``await chat(messages, role=..., kind=...)``."""

    def __call__(
        self, messages: list[dict[str, str]], *, role: str | None = ..., kind: str | None = ...
    ) -> Awaitable[ChatReply]:
        """Send ``messages`` to ``role``'s chain."""


class _ChatFailed(Exception):
    """A chat step failed; carries the reason for ``EscalationFailed``."""

    def __init__(self, reason: str, cause: Exception) -> None:
        super().__init__(reason)
        self.reason = reason
        self.cause = cause


class _Run:
    """One escalation in progress: its id, collaborators and the outcomes so far."""

    def __init__(
        self,
        escalation_id: str,
        chat: ChatFn,
        append: AppendFn,
        check: CheckFn,
        *,
        kind: str | None,
        now: Callable[[], float],
        store_bodies: bool,
    ) -> None:
        self.id = escalation_id
        self.stream = ESCALATION_STREAM_PREFIX + escalation_id
        self._chat, self._append, self._check = chat, append, check
        self._kind, self._now, self._store = kind, now, store_bodies
        self.outcomes: list[AttemptOutcome] = []
        self.code = ""
        self.escalations = 0
        self.log = log.bind(escalation_id=escalation_id)

    async def emit(self, event: Event) -> None:
        await self._append(self.stream, [event])

    async def ask(self, role: str, prompt: str, step: str) -> ChatReply:
        """One chat; a failure becomes ``_ChatFailed`` (never a CancelledError)."""
        try:
            return await self._chat(
                [{"role": "user", "content": prompt}], role=role, kind=self._kind
            )
        except Exception as exc:
            reason = f"{step} (role {role!r}) failed: {type(exc).__name__}: {exc}"
            raise _ChatFailed(reason, exc) from exc

    async def plan(self, role: str, prompt: str) -> str:
        reply = await self.ask(role, prompt, "overseer strategy")
        body = reply.content if self._store else None
        await self.emit(
            StrategyProduced(
                escalation_id=self.id,
                request_id=reply.request_id,
                chars=len(reply.content),
                at=self._now(),
                body=body,
            )
        )
        return reply.content

    async def attempt(self, attempt: int, role: str, prompt: str) -> CheckResult:
        """Generate a candidate with ``role``, record it, check it, record the verdict."""
        step = "generation" if attempt == 0 else f"escalation attempt {attempt}"
        reply = await self.ask(role, prompt, step)
        self.code = code = extract_code(reply.content)
        if attempt > 0:
            self.escalations = attempt
        self.log.info("escalation.candidate", attempt=attempt, role=role, model=reply.model)
        await self.emit(
            CandidateGenerated(
                escalation_id=self.id,
                attempt=attempt,
                role=role,
                request_id=reply.request_id,
                model=reply.model,
                chars=len(code),
                at=self._now(),
                body=code if self._store else None,
            )
        )
        result = await self._run_check(code, step)
        await self.emit(
            check_event(self.id, attempt, result, self._now(), store_bodies=self._store)
        )
        self.outcomes.append(
            AttemptOutcome(
                attempt=attempt,
                role=role,
                model=reply.model,
                request_id=reply.request_id,
                ok=result.ok,
                error_summary="" if result.ok else error_summary(result.error),
            )
        )
        return result

    async def _run_check(self, code: str, step: str) -> CheckResult:
        try:
            return await self._check(code)
        except Exception as exc:
            reason = f"the check raised during {step}: {type(exc).__name__}: {exc}"
            await self.finish_failed(reason)
            raise

    async def finish_ok(self, attempt: int) -> EscalationResult:
        await self.emit(EscalationSucceeded(escalation_id=self.id, attempt=attempt, at=self._now()))
        where = "the first candidate" if attempt == 0 else f"escalation attempt {attempt}"
        self.log.info("escalation.succeeded", attempt=attempt)
        return self._result(succeeded_on=attempt, reason=f"succeeded on {where}")

    async def finish_failed(self, reason: str, error: Exception | None = None) -> EscalationResult:
        event = EscalationFailed(
            escalation_id=self.id, attempts=self.escalations, reason=reason, at=self._now()
        )
        await self.emit(event)
        self.log.warning("escalation.failed", attempts=self.escalations, reason=reason)
        return self._result(succeeded_on=None, reason=reason, error=error)

    def _result(
        self, *, succeeded_on: int | None, reason: str, error: Exception | None = None
    ) -> EscalationResult:
        return EscalationResult(
            escalation_id=self.id,
            ok=succeeded_on is not None,
            code=self.code,
            attempts=tuple(self.outcomes),
            succeeded_on=succeeded_on,
            reason=reason,
            error=error,
        )


def _new_id() -> str:
    return uuid.uuid4().hex


async def escalate(
    *,
    goal: str,
    check: CheckFn,
    chat: ChatFn,
    append: AppendFn,
    generator_role: str = "generator",
    escalation_role: str = "escalation",
    overseer_role: str | None = None,
    tools: Sequence[str] = (),
    max_attempts: int = 3,
    kind: str | None = "code",
    escalation_id: str | None = None,
    new_id: Callable[[], str] = _new_id,
    now: Callable[[], float] = time.time,
    store_bodies: bool = False,
) -> EscalationResult:
    """Generate code for ``goal``, check it, and escalate failures with full context.

    Args:
        goal: What the code must do (sent to every role).
        check: Runs/tests a candidate; ``CheckResult.ok`` decides.
        chat: ``rt.chat`` (or anything shaped like it, see ``ChatFn``).
        append: ``append(stream, events)`` recording the workflow's events.
        generator_role: Writes the first candidate.
        escalation_role: Repairs a failed candidate, given the full context.
        overseer_role: Plans an approach first; None skips planning.
        tools: Tools/libraries the code may use (listed in every prompt).
        max_attempts: Escalation attempts after the first candidate failed (>= 0).
        kind: Task kind passed to ``chat`` (performance routing learns under it).
        escalation_id: Id of the escalation; ``new_id()`` makes one when None.
        new_id: Makes escalation ids.
        now: Wall clock (seconds since the epoch) for the events' ``at``.
        store_bodies: Also store goal, strategy, code and errors in the events.

    Returns:
        Which attempt succeeded (``succeeded_on``: 0 for the first candidate), or why
        all failed (``reason`` names the last error). A chat error ends the escalation
        with a failed result (``error`` holds it); see the module docstring.

    Raises:
        ValueError: ``max_attempts`` is negative or a role name is empty.
        Exception: Whatever ``check`` or ``append`` raised.
    """
    if max_attempts < 0:
        raise ValueError(f"max_attempts must be >= 0, got {max_attempts}")
    if not generator_role or not escalation_role or overseer_role == "":
        raise ValueError("role names must be non-empty strings")
    run = _Run(
        escalation_id or new_id(),
        chat,
        append,
        check,
        kind=kind,
        now=now,
        store_bodies=store_bodies,
    )
    await run.emit(
        EscalationStarted(
            escalation_id=run.id,
            at=now(),
            goal_chars=len(goal),
            goal_hash=text_hash(goal),
            generator_role=generator_role,
            escalation_role=escalation_role,
            overseer_role=overseer_role,
            max_attempts=max_attempts,
            body=goal if store_bodies else None,
        )
    )
    try:
        return await _drive(
            run,
            goal,
            tuple(tools),
            roles=(overseer_role, generator_role, escalation_role),
            max_attempts=max_attempts,
        )
    except _ChatFailed as failed:
        return await run.finish_failed(failed.reason, failed.cause)


async def _drive(
    run: _Run,
    goal: str,
    tools: tuple[str, ...],
    *,
    roles: tuple[str | None, str, str],
    max_attempts: int,
) -> EscalationResult:
    """Plan, generate, then escalate until a check passes or attempts run out."""
    overseer_role, generator_role, escalation_role = roles
    strategy = ""
    if overseer_role is not None:
        strategy = await run.plan(overseer_role, build_strategy_prompt(goal, tools))
    result = await run.attempt(0, generator_role, build_generation_prompt(goal, strategy, tools))
    attempt = 0
    while not result.ok and attempt < max_attempts:
        attempt += 1
        context = EscalationContext(
            goal=goal,
            strategy=strategy,
            tools=tools,
            code=run.code,
            error=result.error,
            stdout=result.stdout,
            attempt=attempt,
            max_attempts=max_attempts,
        )
        result = await run.attempt(attempt, escalation_role, build_fix_prompt(context))
    if result.ok:
        return await run.finish_ok(attempt)
    last = error_summary(result.error) or "(no error output)"
    tried = f"the first candidate and {attempt} escalation attempt{'s' * (attempt != 1)}"
    return await run.finish_failed(f"{tried} failed; last error: {last}")
