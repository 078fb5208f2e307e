"""Asking the catalog from a request's task: the waits that may fetch lists first."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from actors._ref import ActorRef
from actors.catalog._messages import (
    CatalogMessage,
    Fetches,
    FindDiscovered,
    Refresh,
    ValidateModel,
)
from actors.endpoint import BackendError

__all__ = ["ensure_served", "find_discovered", "wait_all"]


async def ensure_served(
    catalog: ActorRef[CatalogMessage], model: str, endpoints: Mapping[str, str]
) -> None:
    """Check that one of ``endpoints`` serves ``model``, fetching lists only when due.

    An answer from the cache costs no I/O. Lists never fetched are fetched first; on a
    miss, lists older than the miss interval are fetched once more (a model pulled a
    moment ago is found) before the error is raised.

    Raises:
        ModelNotFoundError: No endpoint of the model serves it.
    """
    stage = 0
    answer = await catalog.ask(ValidateModel(model, endpoints), timeout=None)
    while answer.fetch:
        await wait_all(await catalog.ask(Refresh(answer.fetch), timeout=None))
        stage += 1
        answer = await catalog.ask(ValidateModel(model, endpoints, stage), timeout=None)
    if answer.error is not None:
        raise answer.error


async def find_discovered(
    catalog: ActorRef[CatalogMessage], model: str
) -> tuple[str, tuple[str, ...]] | None:
    """The name ``model`` is discovered under and the endpoints discovering it, or None.

    Answered from the cache; on a miss, the discovering endpoints' lists that are due
    are fetched once (a model loaded a moment ago is found) and the answer is final.
    """
    answer = await catalog.ask(FindDiscovered((model,)), timeout=None)
    if answer.fetch:
        await wait_all(await catalog.ask(Refresh(answer.fetch), timeout=None))
        answer = await catalog.ask(FindDiscovered((model,), stage=1), timeout=None)
    return answer.found.get(model)


async def wait_all(fetches: Fetches) -> tuple[BackendError | None, ...]:
    """Wait for fetches; a caller giving up does not cancel them (others may wait too).

    Returns:
        Each fetch's error, or None for a fetch that succeeded.
    """
    if not fetches.waits:
        return ()
    return tuple(await asyncio.shield(asyncio.gather(*fetches.waits)))
