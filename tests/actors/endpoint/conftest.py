"""Every ``Endpoint`` a test made is stopped after it (actor system and transport);
``http`` runs a real-socket test on both HTTP transports."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.actors.endpoint._endpoint import HTTPS, Http, shut_down_all


@pytest.fixture(autouse=True)
async def _stop_endpoints() -> AsyncIterator[None]:
    yield
    await shut_down_all()


@pytest.fixture(params=HTTPS)
def http(request: pytest.FixtureRequest) -> Http:
    """The HTTP transport under test: aiohttp's pool (the default) or httpx's."""
    kind: Http = request.param
    return kind
