"""``Fold``: what other writers committed to the shared log, for an actor to fold in.

Several runtimes (processes, machines) can share one event log. Each one's log tails
the others' commits; the runtime hands every actor whose state is a projection of the
log the new events that projection accepts, in position order, as a ``Fold`` message
(a ``tell``: ordered in the mailbox with the actor's other messages). The actor folds
them with the same ``evolve`` its replay uses, so a quarantine, a reset or a quota
reservation made by another runtime holds here too.
"""

from __future__ import annotations

import msgspec

from events import StoredEvent

__all__ = ["Fold"]


class Fold(msgspec.Struct, frozen=True):
    """Events committed by another writer, in position order, none seen before."""

    events: tuple[StoredEvent, ...]
