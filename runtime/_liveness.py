"""The health actor's liveness check: is an endpoint back, cheaply?

While a deployment is quarantined for a connection-level failure (refused, reset,
connect timeout), the health actor asks this on a growing interval. It never runs a
completion: a TCP connect to the endpoint's host and port (nothing listening fails at
once), then the model-list route through the endpoint actor (the process answers HTTP).
Both passing moves the deployment to probing at once; the next request is its probe.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from urllib.parse import urlsplit

from actors import ActorRef
from actors.endpoint import BackendError, EndpointMessage, call_list_models
from actors.health import Liveness
from events import split_deployment
from runtime._config import RuntimeConfig

__all__ = ["endpoint_liveness"]


def endpoint_liveness(
    config: RuntimeConfig, endpoints: Mapping[str, ActorRef[EndpointMessage]]
) -> Liveness:
    """The liveness check of a deployment: TCP connect, then list the endpoint's models."""

    async def alive(did: str) -> bool:
        model, endpoint = split_deployment(did)
        url = urlsplit(config.endpoint(endpoint).url)
        port = url.port or (443 if url.scheme == "https" else 80)
        connect = config.timeouts_for(model, endpoint).connect
        try:
            opened = asyncio.open_connection(url.hostname or "localhost", port)
            _, writer = await asyncio.wait_for(opened, timeout=connect)
        except (OSError, TimeoutError):
            return False  # nothing listens yet: no HTTP request is worth sending
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        try:
            await call_list_models(endpoints[endpoint])
        except BackendError:
            return False
        return True

    return alive
