"""Every ``Endpoint`` a test made is stopped after it (actor system and transport)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.actors.endpoint._endpoint import shut_down_all


@pytest.fixture(autouse=True)
async def _stop_endpoints() -> AsyncIterator[None]:
    yield
    await shut_down_all()
