"""Bounding the task kinds a client can create: configured kinds kept, a few others
admitted, the rest folded into ``other``.

``kind=`` is chosen per call (by a client of ``serve``, possibly a hostile one), and
every distinct kind would get its own performance windows, exploration counter and
``/performance-metrics`` entries. ``fold_kind`` is the one rule that bounds them:

* a *configured* kind (a role's ``kind``, a role's name, ``default``, ``other``) is
  always kept as is;
* another kind is kept if it was already admitted, or while fewer than
  ``MAX_OTHER_KINDS`` others have been admitted (it is admitted then);
* anything else becomes ``OTHER_KIND``.

The fold happens before the request is recorded: ``RequestStarted.kind`` already
carries the folded kind, so a replay of the log rebuilds the same windows (the events
are the record of the decision). ``KindFold`` is the small in-memory shell the
runtime keeps per process; it is seeded at start with the kinds the replayed windows
already hold, so restarts do not admit another ``MAX_OTHER_KINDS`` each time.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

__all__ = ["MAX_OTHER_KINDS", "OTHER_KIND", "KindFold", "fold_kind"]

OTHER_KIND = "other"
"""The kind of a request whose client-chosen kind did not fit in the bound."""
MAX_OTHER_KINDS = 32
"""Client-chosen kinds (not configured) admitted at most; later ones become ``other``."""


def fold_kind(kind: str, configured: Collection[str], admitted: Collection[str], limit: int) -> str:
    """The kind a request is filed under (pure; see the module docstring).

    Args:
        kind: The kind the caller asked for.
        configured: Kinds always kept (role kinds, role names, ``default``, ``other``).
        admitted: Client-chosen kinds admitted so far.
        limit: How many client-chosen kinds may be admitted (``MAX_OTHER_KINDS``).

    Returns:
        ``kind`` itself when configured, admitted, or when there is room to admit it
        (the caller then adds it to ``admitted``); else ``OTHER_KIND``.
    """
    if kind in configured or kind in admitted or len(admitted) < limit:
        return kind
    return OTHER_KIND


class KindFold:
    """The live set of admitted kinds and the fold over it (no I/O; one per runtime)."""

    def __init__(self, configured: Iterable[str], limit: int = MAX_OTHER_KINDS) -> None:
        """Keep ``configured`` kinds always; admit at most ``limit`` others (>= 0)."""
        if limit < 0:
            raise ValueError(f"the limit of admitted kinds must be >= 0, got {limit}")
        self.configured = frozenset({*configured, OTHER_KIND})
        self.limit = limit
        self._admitted: set[str] = set()
        self.seeded = False

    @property
    def admitted(self) -> frozenset[str]:
        """Client-chosen kinds admitted so far."""
        return frozenset(self._admitted)

    def seed(self, kinds: Iterable[str]) -> None:
        """Admit the kinds an earlier run already filed samples under (from replay).

        They are admitted even beyond the limit: they are in the log already, and
        folding them now would split their history. Marks the fold as seeded.
        """
        self._admitted.update(k for k in kinds if k not in self.configured)
        self.seeded = True

    def fold(self, kind: str) -> str:
        """``fold_kind`` over the live set, admitting ``kind`` when it fits."""
        folded = fold_kind(kind, self.configured, self._admitted, self.limit)
        if folded == kind and kind not in self.configured:
            self._admitted.add(kind)
        return folded
