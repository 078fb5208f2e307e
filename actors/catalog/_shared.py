"""Which deployments a catalog's lists say are not served (pure)."""

from __future__ import annotations

from actors.catalog._logic import CatalogState, serves
from actors.catalog._messages import Unlisted

__all__ = ["unlisted"]

_NONE_UNLISTED = Unlisted()


def unlisted(state: CatalogState, deployments: tuple[str, ...]) -> Unlisted:
    """The deployments (``model@endpoint``) whose endpoint's known list lacks the model.

    Nothing fetched yet: everything is assumed served (the attempt will tell).
    """
    if not state.endpoints:
        return _NONE_UNLISTED
    missing = [did for did in deployments if not serves(state, *did.rpartition("@")[::2])]
    return Unlisted(frozenset(missing)) if missing else _NONE_UNLISTED
