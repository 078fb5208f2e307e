"""The model catalog: matching rule, resolve/validate, freshness, and the fold."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.catalog import (
    CatalogError,
    CatalogState,
    ModelNotFoundError,
    available,
    evolve,
    is_fresh,
    match_key,
    needs_refresh,
    resolve,
    served_name,
    serves,
    validate,
)
from events._base import UnknownEvent
from events._catalog import ModelListFailed, ModelListRefreshed
from events._codec import default_registry

LOCAL = {"local": "http://127.0.0.1:11434"}
BOTH = {**LOCAL, "gpu": "http://10.0.0.5:11434"}


def refreshed(endpoint: str, *models: str) -> ModelListRefreshed:
    return ModelListRefreshed(endpoint=endpoint, models=models, at=1_700_000_000.0)


def catalog(now: float | None = 100.0) -> CatalogState:
    state = CatalogState()
    state = evolve(state, refreshed("local", "codellama:latest", "mistral:7b"), now)
    return evolve(state, refreshed("gpu", "llama3:latest", "qwen2.5-coder:14b", "mistral:7b"), now)


# --- matching ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("llama3", "llama3:latest"),
        ("llama3:latest", "llama3:latest"),
        ("mistral:7b", "mistral:7b"),
        (" llama3 ", "llama3:latest"),
        ("me/model", "me/model:latest"),
        ("localhost:5000/model", "localhost:5000/model:latest"),  # a port is not a tag
        ("gpt-4o", "gpt-4o:latest"),
    ],
)
def test_match_key(name: str, key: str) -> None:
    assert match_key(name) == key


def test_a_name_without_a_tag_means_latest_and_nothing_else() -> None:
    state = catalog()
    assert resolve(state, "codellama") == ("local",)
    assert resolve(state, "codellama:latest") == ("local",)
    assert resolve(state, "codellama:7b") == ()
    assert resolve(state, "mistral") == ()  # only mistral:7b is served
    assert resolve(state, "mistral:7b") == ("local", "gpu")
    assert resolve(state, "Mistral:7b") == ()  # exact otherwise, case included


def test_a_server_listing_bare_ids_matches_latest_requests() -> None:
    state = evolve(CatalogState(), refreshed("studio", "qwen2.5-7b-instruct"), 0.0)
    assert resolve(state, "qwen2.5-7b-instruct:latest") == ("studio",)
    assert served_name(state, "qwen2.5-7b-instruct:latest", "studio") == "qwen2.5-7b-instruct"


def test_served_name_gives_the_name_as_the_endpoint_lists_it() -> None:
    state = catalog()
    assert served_name(state, "llama3", "gpu") == "llama3:latest"
    assert served_name(state, "llama3", "local") is None


def test_available_is_sorted_and_unique() -> None:
    state = catalog()
    assert available(state) == (
        "codellama:latest",
        "llama3:latest",
        "mistral:7b",
        "qwen2.5-coder:14b",
    )
    assert available(state, ("local",)) == ("codellama:latest", "mistral:7b")


# --- validation -------------------------------------------------------------------------


def test_validate_accepts_a_served_model() -> None:
    state = catalog()
    validate(state, "codellama", LOCAL)
    validate(state, "llama3", BOTH)  # served by one of the two is enough


def test_validate_names_the_endpoint_and_lists_what_is_available() -> None:
    with pytest.raises(ModelNotFoundError) as caught:
        validate(catalog(), "llama3", LOCAL)
    error = caught.value
    assert isinstance(error, CatalogError)
    assert str(error) == (
        "'llama3' is not served by local (http://127.0.0.1:11434); "
        "available: codellama:latest, mistral:7b"
    )
    assert error.model == "llama3"
    assert error.available == ("codellama:latest", "mistral:7b")


def test_validate_lists_every_endpoint_it_checked() -> None:
    with pytest.raises(ModelNotFoundError, match=r"by local \(.*\) or gpu \(.*\); available: "):
        validate(catalog(), "phi3", BOTH)


def test_an_endpoint_without_a_list_gets_the_benefit_of_the_doubt() -> None:
    state = catalog()
    validate(state, "phi3", {**LOCAL, "new": "http://10.0.0.9:11434"})
    assert serves(state, "phi3", "new")
    assert not serves(state, "phi3", "local")
    assert serves(state, "codellama", "local")


def test_an_empty_list_serves_nothing() -> None:
    state = evolve(CatalogState(), refreshed("local"), 0.0)
    with pytest.raises(ModelNotFoundError, match=r"available: none$"):
        validate(state, "llama3", LOCAL)


def test_cached_validation_is_a_pure_lookup() -> None:
    # Its cost is measured by ``python -m tests.bench.runtime_chat`` (cached model
    # validation), not timed here: a busy machine must not fail a unit test.
    state = catalog()
    assert validate(state, "codellama", LOCAL) is None
    assert validate(state, "codellama", LOCAL) is None
    assert state == catalog()  # nothing is fetched or recorded


# --- freshness and the fold -------------------------------------------------------------


def test_a_fetched_list_is_fresh_for_the_ttl() -> None:
    state = catalog(now=100.0)
    assert is_fresh(state, "local", 100.0)
    assert is_fresh(state, "local", 159.9)
    assert not is_fresh(state, "local", 160.0)
    assert not is_fresh(state, "local", 99.0)  # a reading from before the fetch
    assert is_fresh(state, "local", 150.0, ttl=60.0) and not is_fresh(state, "local", 150.0, ttl=10)
    assert not is_fresh(state, "unknown", 100.0)


def test_a_replayed_catalog_knows_the_lists_but_treats_them_as_stale() -> None:
    live = catalog(now=100.0)
    replayed = CatalogState()
    for event in (refreshed("local", "codellama:latest", "mistral:7b"),):
        replayed = evolve(replayed, event)
    assert resolve(replayed, "codellama") == ("local",)
    assert not is_fresh(replayed, "local", 100.0)
    assert needs_refresh(replayed, "local", 100.0)
    assert not needs_refresh(live, "local", 100.0)


def test_a_failed_fetch_keeps_the_list_and_backs_off() -> None:
    state = catalog(now=100.0)
    failed = ModelListFailed(endpoint="local", error="connection refused", at=0.0)
    state = evolve(state, failed, 200.0)
    assert state.endpoints["local"].error == "connection refused"
    assert resolve(state, "codellama") == ("local",)
    assert not needs_refresh(state, "local", 203.0)  # failed 3 s ago: wait
    assert needs_refresh(state, "local", 205.0)
    state = evolve(state, refreshed("local", "phi3:latest"), 206.0)
    assert state.endpoints["local"].error is None
    assert resolve(state, "codellama") == () and resolve(state, "phi3") == ("local",)


def test_a_failure_for_an_unknown_endpoint_leaves_it_without_a_list() -> None:
    state = evolve(CatalogState(), ModelListFailed(endpoint="x", error="boom", at=0.0), 1.0)
    assert serves(state, "anything", "x")
    validate(state, "anything", {"x": "http://x"})


def test_evolve_ignores_other_events() -> None:
    state = catalog()
    assert evolve(state, UnknownEvent(type="Later", schema_version=1, payload=b"{}")) is state


names = st.lists(st.sampled_from(["a", "a:latest", "b:1", "c", "d:2", "e/f"]), max_size=5)


@given(lists=st.lists(st.tuples(st.sampled_from(["x", "y", "z"]), names), max_size=8))
def test_the_index_always_matches_a_scan_of_the_lists(lists: list[tuple[str, list[str]]]) -> None:
    state = CatalogState()
    encoded = []
    for endpoint, models in lists:
        event = refreshed(endpoint, *models)
        encoded.append(default_registry.encode(event))
        state = evolve(state, event, 1.0)
    replayed = CatalogState()
    for name, version, payload in encoded:
        replayed = evolve(replayed, default_registry.decode(name, version, payload))
    assert replayed.index == state.index and replayed.endpoints.keys() == state.endpoints.keys()
    for model in ["a", "a:latest", "b", "b:1", "c:latest", "e/f", "zz"]:
        expected = {
            endpoint
            for endpoint, entry in state.endpoints.items()
            if any(match_key(m) == match_key(model) for m in entry.models or ())
        }
        assert set(resolve(state, model)) == expected
