"""Which deployments a catalog's lists say are not served, and planning's survey of
them (pure)."""

from __future__ import annotations

from collections.abc import Mapping

from actors.catalog._logic import CatalogState, context_lengths, serves
from actors.catalog._messages import Surveyed, Unlisted

__all__ = ["Served", "Surveys", "unlisted"]

_NONE_UNLISTED = Unlisted()


def unlisted(state: CatalogState, deployments: tuple[str, ...]) -> Unlisted:
    """The deployments (``model@endpoint``) whose endpoint's known list lacks the model.

    Nothing fetched yet: everything is assumed served (the attempt will tell).
    """
    if not state.endpoints:
        return _NONE_UNLISTED
    missing = [did for did in deployments if not serves(state, *did.rpartition("@")[::2])]
    return Unlisted(frozenset(missing)) if missing else _NONE_UNLISTED


class Surveys:
    """``Survey`` answers, kept while the lists stay the same state (it is never
    mutated: a change is a new state, which empties the cache). Every request of a chain
    asks about the same deployment ids, so the answer is computed once per change."""

    __slots__ = ("_answers", "_state")

    LIMIT = 256
    """Answers kept at most (distinct chains); the cache is emptied beyond it."""

    def __init__(self) -> None:
        self._state: CatalogState | None = None
        self._answers: dict[tuple[str, ...], Surveyed] = {}

    def answer(self, state: CatalogState, deployments: tuple[str, ...]) -> Surveyed:
        if state is not self._state:
            self._state, self._answers = state, {}
        found = self._answers.get(deployments)
        if found is None:
            if len(self._answers) >= self.LIMIT:
                self._answers.clear()
            found = self._answers[deployments] = Surveyed(
                unlisted(state, deployments).deployments, context_lengths(state, deployments)
            )
        return found


class Served:
    """Models ``ValidateModel`` found served, kept while the lists stay the same state.

    Only an answer that depends on the lists alone is kept: every endpoint asked about
    has a known list (one never fetched is fetched first, when its backoff is over,
    which depends on the time)."""

    __slots__ = ("_served", "_state")

    def __init__(self) -> None:
        self._state: CatalogState | None = None
        self._served: set[tuple[str, tuple[str, ...]]] = set()

    def known(self, state: CatalogState, model: str, endpoints: Mapping[str, str]) -> bool:
        """Whether ``model`` was found served on ``endpoints`` with these lists."""
        return state is self._state and (model, tuple(endpoints)) in self._served

    def note(self, state: CatalogState, model: str, endpoints: Mapping[str, str]) -> None:
        """``model`` was found served on ``endpoints`` with these lists."""
        entries = state.endpoints
        if not endpoints or any(
            (entry := entries.get(name)) is None or entry.models is None for name in endpoints
        ):
            return
        if state is not self._state:
            self._state, self._served = state, set()
        if len(self._served) >= Surveys.LIMIT:
            self._served.clear()
        self._served.add((model, tuple(endpoints)))
