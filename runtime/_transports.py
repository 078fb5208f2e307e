"""One ``EndpointTransport`` per configured endpoint (its pool, keys and deadlines)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import httpx

from actors.endpoint import DISCOVERED_MAX_CONCURRENCY, EndpointTransport
from runtime._build import deadlines
from runtime._config import RuntimeConfig
from runtime._urls import api_base

__all__ = ["endpoint_transports"]


def endpoint_transports(
    config: RuntimeConfig,
    transport: Callable[[str], httpx.AsyncBaseTransport | None] | None = None,
    api_keys: Mapping[str, str | None] | None = None,
) -> dict[str, EndpointTransport]:
    """One transport per endpoint (its own connection pool, sized to its concurrency).

    ``transport`` (tests, embedding hosts) may hand an endpoint its own httpx
    transport, which wins; otherwise the endpoint's ``transport`` setting picks the
    pool (aiohttp or httpx), built with its ``verify_tls``.
    """
    keys = api_keys or {}
    made: dict[str, EndpointTransport] = {}
    for endpoint in config.endpoints:
        made[endpoint.name] = EndpointTransport(
            name=endpoint.name,
            url=api_base(endpoint.url),
            api=endpoint.api,
            api_key=keys.get(endpoint.name),
            deadlines=deadlines(endpoint.timeouts),
            # Unset: sized for any discovered slot count; the actor's slots cap the calls.
            max_connections=endpoint.max_concurrency or DISCOVERED_MAX_CONCURRENCY,
            transport=transport(endpoint.name) if transport is not None else None,
            http=endpoint.transport,
            verify_tls=endpoint.verify_tls,
        )
    return made
