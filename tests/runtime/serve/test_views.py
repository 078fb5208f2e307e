"""Names in requests, the default token cap, and the catalog listing (pure)."""

from __future__ import annotations

import pytest

from runtime import EndpointConfig, ModelConfig, RoleConfig, RuntimeConfig
from runtime.serve._errors import HttpError
from runtime.serve._views import Target, catalog_entries, default_max_tokens, resolve_target

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


def test_a_role_wins_over_a_model_of_the_same_name() -> None:
    assert resolve_target(CONFIG, "writer") == Target(role="writer")
    assert resolve_target(CONFIG, "b") == Target(model="b")
    with pytest.raises(HttpError) as caught:
        resolve_target(CONFIG, "nope")
    assert caught.value.status == 404 and caught.value.code == "model_not_found"
    assert "roles: quick, mixed, writer; models: small, big, plain, writer" in str(caught.value)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (Target(model="small"), None),  # its own default (256) is within the cap
        (Target(role="quick"), None),
        (Target(role="mixed"), 1000),  # plain has no default: replies stay bounded
        (Target(model="b"), 1000),  # its default is over the cap
        (Target(model="plain"), 1000),
    ],
)
def test_default_max_tokens(target: Target, expected: int | None) -> None:
    assert default_max_tokens(CONFIG, target, 1000) == expected


def test_catalog_lists_roles_models_then_aliases() -> None:
    assert catalog_entries(CONFIG) == [
        ("quick", "role"), ("mixed", "role"), ("writer", "role"), ("small", "model"),
        ("big", "model"), ("plain", "model"), ("writer", "model"), ("b", "alias"),
    ]  # fmt: skip
