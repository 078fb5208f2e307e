"""Fixtures for the facade tests: the runtime over two chaos backends, served."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from runtime.testing import ChaosServer
from tests.runtime.serve._support import Facade, facade


@pytest.fixture
async def served(tmp_path: Path, servers: tuple[ChaosServer, ChaosServer]) -> AsyncIterator[Facade]:
    """The facade with the test key over backends ``a`` and ``b``."""
    async with facade(tmp_path, servers) as running:
        yield running
