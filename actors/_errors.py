"""Errors raised by the actor system.

The tree::

    ActorError
     ├── MailboxFull          tell_nowait() on a full mailbox
     ├── AskTimeout           no reply within the ask timeout (also a TimeoutError)
     ├── WouldBlock           ask_nowait() on an actor that cannot answer inline now
     ├── ActorDeadError       the actor is stopped, or stopped before handling the message
     ├── ActorNotFound        get()/stop() with a name the system does not know (LookupError)
     ├── DuplicateActorName   spawn() with the name of a live actor (also a ValueError)
     └── SystemShutDown       spawn() after shutdown()

An exception raised by an actor's ``receive`` while handling an ``ask`` is not wrapped:
the asker gets the original exception object, with its original type.
"""

from __future__ import annotations

from events import LLMRuntimeError

__all__ = [
    "ActorDeadError",
    "ActorError",
    "ActorNotFound",
    "AskTimeout",
    "DuplicateActorName",
    "MailboxFull",
    "SystemShutDown",
    "WouldBlock",
]


class ActorError(LLMRuntimeError):
    """Root of every error the actor system raises."""


class MailboxFull(ActorError):
    """``tell_nowait`` found the actor's bounded mailbox full."""

    def __init__(self, actor: str, size: int) -> None:
        self.actor = actor
        self.size = size
        super().__init__(
            f"mailbox of actor {actor!r} is full ({size} messages queued); use "
            "`await ref.tell(...)` to wait for room, slow the sender down, or spawn "
            "the actor with a larger mailbox_size"
        )


class AskTimeout(ActorError, TimeoutError):
    """No reply arrived within the ask timeout; the actor keeps running."""

    def __init__(self, actor: str, message_type: str, timeout: float) -> None:
        self.actor = actor
        self.timeout = timeout
        super().__init__(
            f"ask {message_type} to actor {actor!r} got no reply within {timeout:g} s; "
            "the actor is still running and a late reply will be dropped; raise the "
            "timeout or check ref.statistics() for a backlog"
        )


class WouldBlock(ActorError):
    """``ask_nowait`` could not answer without waiting (see ``ActorRef.ask_nowait``)."""

    def __init__(self, actor: str, message_type: str, why: str) -> None:
        self.actor = actor
        self.why = why
        super().__init__(
            f"ask_nowait {message_type} to actor {actor!r} would have to wait ({why}); "
            "use `await ref.ask(...)` instead"
        )


class ActorDeadError(ActorError):
    """The actor is stopped, or stopped before it handled the message."""

    def __init__(self, actor: str, reason: str) -> None:
        self.actor = actor
        self.reason = reason
        super().__init__(
            f"actor {actor!r} is stopped ({reason}); the message was not handled; "
            "spawn the actor again or send to another one"
        )


class ActorNotFound(ActorError, LookupError):
    """No actor with that name in this system."""

    def __init__(self, actor: str, known: list[str]) -> None:
        self.actor = actor
        shown = ", ".join(sorted(known)[:20]) or "none"
        super().__init__(
            f"no actor named {actor!r} in this system; known actors: {shown}; "
            "spawn it first or check the name"
        )


class DuplicateActorName(ActorError, ValueError):
    """``spawn`` was given the name of an actor that is still alive."""

    def __init__(self, actor: str) -> None:
        self.actor = actor
        super().__init__(
            f"an actor named {actor!r} is already running; pick another name or "
            "`await system.stop(system.get(name))` first"
        )


class SystemShutDown(ActorError):
    """The actor system was shut down and accepts no new actors."""

    def __init__(self, actor: str) -> None:
        self.actor = actor
        super().__init__(
            f"cannot spawn actor {actor!r}: the actor system is shut down; create a new ActorSystem"
        )
