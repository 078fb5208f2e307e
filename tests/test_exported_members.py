"""Each package's public surface is exactly its ``__all__`` (as in httpx's own test)."""

from __future__ import annotations

import importlib
import types

import pytest

PACKAGES = [
    "events",
    "actors",
    "runtime",
    "runtime.testing",
    "actors.endpoint",
    "actors.health",
    "actors.catalog",
    "actors.router",
    "actors.performance",
    "actors.quota",
    "actors.escalation",
    "runtime.inspect",
    "runtime.serve",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_the_public_surface(name: str) -> None:
    module = importlib.import_module(name)
    declared = set(module.__all__)
    public = {
        attr
        for attr in dir(module)
        if not attr.startswith("_")
        and not isinstance(getattr(module, attr), types.ModuleType)
        and attr != "annotations"
    }
    assert declared == public, f"{name}: __all__ and public names differ"
    assert len(module.__all__) == len(declared), f"{name}: a name is listed twice in __all__"
