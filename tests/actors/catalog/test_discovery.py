"""Discovered models as pure logic: the rule, the change events, their fold, warnings."""

from __future__ import annotations

from actors.catalog import (
    CatalogState,
    ModelNotFoundError,
    discover,
    discovered_endpoints,
    discovered_models,
    discovery_change,
    evolve,
    not_served,
)
from events import Event, ModelListRefreshed, ModelsDiscovered

LISTED = ("llama3:latest", "qwen2.5:7b", "qwen2.5-coder:14b", "phi3:mini")


def fold(events: list[Event], state: CatalogState | None = None) -> CatalogState:
    state = state or CatalogState()
    for event in events:
        state = evolve(state, event)
    return state


def test_auto_discovers_every_listed_model_and_patterns_only_the_matching_ones() -> None:
    assert discover(LISTED, "auto") == LISTED
    assert discover(LISTED, ("qwen*",)) == ("qwen2.5:7b", "qwen2.5-coder:14b")
    # a pattern also matches the name's ``:latest`` form, and is case-sensitive
    assert discover(LISTED, ("llama3:latest", "PHI*")) == ("llama3:latest",)
    assert discover(LISTED, None) == ()


def test_a_change_is_one_event_and_replaying_the_events_gives_the_same_state() -> None:
    events: list[Event] = [ModelListRefreshed(endpoint="a", models=LISTED, at=1.0)]
    live = fold(events)
    first = discovery_change(live, "a", ("qwen*",), at=1.0)
    assert first == ModelsDiscovered(
        endpoint="a", added=("qwen2.5:7b", "qwen2.5-coder:14b"), removed=(), at=1.0
    )
    events.append(first)
    live = evolve(live, first)
    assert discovery_change(live, "a", ("qwen*",), at=2.0) is None  # nothing changed

    shorter = ModelListRefreshed(endpoint="a", models=("qwen2.5:7b", "llama3:latest"), at=3.0)
    live = evolve(live, shorter)
    events.append(shorter)
    second = discovery_change(live, "a", ("qwen*", "llama3*"), at=3.0)
    assert second is not None
    assert (second.added, second.removed) == (("llama3:latest",), ("qwen2.5-coder:14b",))
    live = evolve(live, second)
    events.append(second)

    assert fold(events) == live
    assert live.discovered == {"a": ("qwen2.5:7b", "llama3:latest")}
    assert discovered_endpoints(live, "llama3") == {"a": "llama3:latest"}
    assert discovered_endpoints(live, "qwen2.5-coder:14b") == {}


def test_a_rule_removed_from_the_config_forgets_what_it_discovered() -> None:
    listed = ModelListRefreshed(endpoint="a", models=LISTED, at=1.0)
    state = fold([listed])
    found = discovery_change(state, "a", "auto", at=1.0)
    assert found is not None
    state = evolve(state, found)
    gone = discovery_change(state, "a", None, at=2.0)
    assert gone is not None and gone.removed == LISTED and gone.added == ()
    assert evolve(state, gone).discovered == {}


def test_a_model_on_two_endpoints_is_one_name_with_both_in_config_order() -> None:
    events: list[Event] = [
        ModelListRefreshed(endpoint="b", models=("qwen",), at=1.0),
        ModelListRefreshed(endpoint="a", models=("qwen:latest", "phi3"), at=1.0),
    ]
    state = fold(events)
    for endpoint in ("b", "a"):
        change = discovery_change(state, endpoint, "auto", at=1.0)
        assert change is not None
        state = evolve(state, change)
    assert discovered_endpoints(state, "qwen", ("a", "b")) == {"a": "qwen:latest", "b": "qwen"}
    assert discovered_models(state, ("a", "b")) == {
        "phi3": ("a",),
        "qwen:latest": ("a", "b"),
    }


def test_not_served_is_only_judged_on_a_known_list() -> None:
    state = CatalogState()
    assert not_served(state, "a", ("mistral",)) == ((), ())
    state = evolve(state, ModelListRefreshed(endpoint="a", models=("qwen", "llama3"), at=1.0))
    assert not_served(state, "a", ("mistral", "llama3")) == (("mistral",), ("llama3", "qwen"))


def test_model_not_found_lists_what_is_served_what_is_configured_and_the_closest() -> None:
    error = ModelNotFoundError(
        "qwen2.5-7b",
        {"a": "http://127.0.0.1:1234"},
        available=("qwen2.5:7b", "llama3:latest"),
        configured=("llama3", "small"),
    )
    assert error.available == ("llama3:latest", "qwen2.5:7b")
    assert error.configured == ("llama3", "small")
    assert error.suggestions[0] == "qwen2.5:7b"
    assert str(error) == (
        "'qwen2.5-7b' is not served by a (http://127.0.0.1:1234); "
        "available: llama3:latest, qwen2.5:7b; configured: llama3, small; "
        "did you mean 'qwen2.5:7b'?"
    )
