"""Discovered context windows in the catalog's state (pure fold and lookup)."""

from __future__ import annotations

import msgspec

from actors.catalog import CatalogState, context_lengths, evolve
from events import ModelListFailed, ModelListRefreshed


def test_windows_are_folded_with_the_list_and_found_by_deployment() -> None:
    listed = ModelListRefreshed(
        endpoint="a", models=("llama3:latest", "qwen:7b"), at=1.0,
        context_lengths={"llama3:latest": 8192},
    )  # fmt: skip
    state = evolve(CatalogState(), listed)
    dids = ("llama3@a", "qwen:7b@a", "llama3@b")
    assert context_lengths(state, dids) == {"llama3@a": 8192}  # "llama3" is llama3:latest
    # a failed fetch keeps the last list and its windows; a new list replaces them
    state = evolve(state, ModelListFailed(endpoint="a", error="refused", at=2.0))
    assert context_lengths(state, dids) == {"llama3@a": 8192}
    state = evolve(state, ModelListRefreshed(endpoint="a", models=("llama3:latest",), at=3.0))
    assert context_lengths(state, dids) == {}


def test_an_old_event_without_windows_still_decodes() -> None:
    raw = msgspec.json.encode({"endpoint": "a", "models": ["m"], "at": 1.0})
    event = msgspec.json.decode(raw, type=ModelListRefreshed)
    assert event.models == ("m",) and event.context_lengths == {}
