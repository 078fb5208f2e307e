"""Label values stay in a bounded set: config names and closed vocabularies only."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from runtime import EndpointConfig, ModelConfig, RoleConfig, RuntimeConfig
from runtime._metrics_labels import NONE, OTHER, Labels

CONFIG = RuntimeConfig(
    endpoints=(
        EndpointConfig(name="a", url="http://127.0.0.1:1"),
        EndpointConfig(name="b", url="http://127.0.0.1:2"),
    ),
    models=(ModelConfig(name="llama3", deployments=("a", "b")),),
    roles={"coder": RoleConfig(models=("llama3",))},
)
LABELS = Labels(CONFIG)


def test_configured_names_pass_and_others_become_other() -> None:
    assert LABELS.model("llama3") == "llama3" and LABELS.model("gpt-9") == OTHER
    assert LABELS.endpoint("a") == "a" and LABELS.endpoint("z") == OTHER
    assert LABELS.role("coder") == "coder" and LABELS.role("hacker") == OTHER
    assert LABELS.role(None) == NONE and LABELS.model(None) == NONE
    assert LABELS.deployment("llama3@b") == ("llama3", "b")
    assert LABELS.deployment("mystery@b") == (OTHER, "b")
    assert LABELS.deployment("no-at-sign") == (OTHER, OTHER)


def test_closed_vocabularies() -> None:
    assert LABELS.failure("timeout_idle") == "timeout_idle"
    assert LABELS.failure("from_a_newer_release") == OTHER and LABELS.failure(None) == OTHER
    assert LABELS.skip_reason("quarantined") == "quarantined"
    assert LABELS.skip_reason("whatever") == OTHER
    assert LABELS.fallback_reason("quota") == "quota"
    assert LABELS.outcome("succeeded") == "succeeded" and LABELS.outcome("weird") == OTHER
    assert "quarantined" in LABELS.statuses and "healthy" in LABELS.statuses


@given(st.text(max_size=30), st.text(max_size=30))
def test_arbitrary_text_maps_into_the_bounded_set(model: str, endpoint: str) -> None:
    allowed_models = {"llama3", OTHER}
    allowed_endpoints = {"a", "b", OTHER}
    got_model, got_endpoint = LABELS.deployment(f"{model}@{endpoint}")
    assert got_model in allowed_models and got_endpoint in allowed_endpoints
    assert LABELS.failure(model) in {OTHER, model} and len(LABELS.failure(model)) < 40
