"""Names in requests and the catalog listing, both from the runtime's listing (pure)."""

from __future__ import annotations

import pytest

from runtime import EndpointConfig, ListedModel, ModelConfig, RoleConfig, RuntimeConfig
from runtime._listing import configured_listing
from runtime.serve._errors import HttpError
from runtime.serve._views import Target, catalog_entries, resolve_target

CONFIG = RuntimeConfig(
    endpoints=(EndpointConfig(name="local", url="http://127.0.0.1:11434"),),
    models=(
        ModelConfig(name="small", deployments=("local",), max_tokens=256),
        ModelConfig(name="big", alias="b", deployments=("local",), max_tokens=100_000),
        ModelConfig(name="plain", deployments=("local",)),
        ModelConfig(name="writer", deployments=("local",)),
    ),
    roles={
        "quick": RoleConfig(models=("small",)),
        "mixed": RoleConfig(models=("small", "plain")),
        "writer": RoleConfig(models=("small",)),
    },
)
LISTING = configured_listing(CONFIG)


def test_a_role_wins_over_a_model_of_the_same_name() -> None:
    assert resolve_target(LISTING, "writer") == Target(role="writer")
    assert resolve_target(LISTING, "b") == Target(model="b")
    with pytest.raises(HttpError) as caught:
        resolve_target(LISTING, "nope")
    assert caught.value.status == 404 and caught.value.code == "model_not_found"
    assert "roles: quick, mixed, writer; models: small, big, plain, writer" in str(caught.value)


def test_a_discovered_model_resolves_as_a_model() -> None:
    listing = (*LISTING, ListedModel(name="phi4:latest", type="discovered", endpoints=("local",)))
    assert resolve_target(listing, "phi4:latest") == Target(model="phi4:latest")
    assert catalog_entries(listing)[-1] == ("phi4:latest", "discovered")


def test_a_404_lists_at_most_fifty_models() -> None:
    many = tuple(ListedModel(name=f"m{i}", type="discovered") for i in range(60))
    with pytest.raises(HttpError) as caught:
        resolve_target(many, "nope")
    assert "m49 and 10 more" in caught.value.message and "m50" not in caught.value.message


def test_catalog_lists_roles_models_then_aliases() -> None:
    assert catalog_entries(LISTING) == [
        ("quick", "role"), ("mixed", "role"), ("writer", "role"), ("small", "model"),
        ("big", "model"), ("plain", "model"), ("writer", "model"), ("b", "alias"),
    ]  # fmt: skip
