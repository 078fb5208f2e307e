"""Fixtures of the browser tests: the outage log, written once per test session."""

from __future__ import annotations

import asyncio

import pytest

from tests.browser._outage_log import Outage, write_outage_log

__all__ = ["outage"]


@pytest.fixture(scope="session")
def outage(tmp_path_factory: pytest.TempPathFactory) -> Outage:
    """The outage scenario's log (see ``_outage_log``); treat it as read-only."""
    path = tmp_path_factory.mktemp("outage-log") / "events.sqlite3"
    return asyncio.run(write_outage_log(path))
