"""Start-up: the concurrency of each endpoint whose ``max_concurrency`` is unset.

Asked of the backend (``actors.endpoint.discover_concurrency``: llama.cpp's
``total_slots``; nothing for Ollama or a server without ``/props``), at start-up only,
in parallel with the first model lists and bounded the same way. What is found is
given to the endpoint's actor (``SetConcurrency``) and kept in ``limits``, which the
actor's factory reads, so a restarted actor keeps it; nothing found keeps
``DEFAULT_MAX_CONCURRENCY``. An endpoint whose configured ``max_concurrency`` is above
what the backend reports is logged (``runtime.endpoint.concurrency_above_slots``,
warning): the calls beyond the backend's slots queue inside it, where the wait is
invisible (``first_byte_s`` instead of ``queue_s``) and, for llama.cpp, may stall for
its 5 s keep-alive timeout (see ``actors.endpoint._discover``).

Found values are logged (``runtime.endpoint.concurrency``, info), not recorded as
events: they describe the process's configuration, not domain state, and no actor
folds them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, MutableMapping

from actors import ActorRef
from actors.endpoint import (
    DEFAULT_MAX_CONCURRENCY,
    EndpointActor,
    EndpointMessage,
    EndpointTransport,
    SetConcurrency,
    discover_concurrency,
)
from events import get_logger
from runtime._config import RuntimeConfig

__all__ = ["endpoint_factory", "initial_limits", "tune_concurrency"]

log = get_logger("runtime._assembly")


def initial_limits(config: RuntimeConfig) -> dict[str, int]:
    """Each endpoint's slot count before discovery: configured, else the default."""
    return {
        e.name: e.max_concurrency if e.max_concurrency is not None else DEFAULT_MAX_CONCURRENCY
        for e in config.endpoints
    }


def endpoint_factory(
    transport: EndpointTransport, limits: Mapping[str, int], name: str
) -> Callable[[], EndpointActor]:
    """Makes the endpoint's actor with its current slot count (a restart keeps it)."""
    return lambda: EndpointActor(transport, max_concurrency=limits[name])


async def tune_concurrency(
    config: RuntimeConfig,
    transports: Mapping[str, EndpointTransport],
    endpoints: Mapping[str, ActorRef[EndpointMessage]],
    limits: MutableMapping[str, int],
) -> None:
    """Ask every ``api: openai`` endpoint for its slots; apply or warn (see above)."""
    asked = [e for e in config.endpoints if e.api == "openai" and e.name in transports]
    found = await asyncio.gather(*(discover_concurrency(transports[e.name]) for e in asked))
    for endpoint, slots in zip(asked, found, strict=True):
        name, configured = endpoint.name, endpoint.max_concurrency
        if slots is None:
            continue
        if configured is None:
            limits[name] = slots
            await endpoints[name].ask(SetConcurrency(slots), timeout=None)
            log.info("runtime.endpoint.concurrency", endpoint=name, slots=slots)
        elif configured > slots:
            log.warning(
                "runtime.endpoint.concurrency_above_slots",
                endpoint=name,
                max_concurrency=configured,
                slots=slots,
                hint="the backend runs only `slots` requests at once; the rest queue "
                "inside it unseen (llama.cpp may stall them ~5 s): lower max_concurrency "
                "or leave it unset to use the backend's slot count",
            )
