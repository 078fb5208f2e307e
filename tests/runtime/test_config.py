"""Good configurations load (YAML, TOML, Python) and the helpers answer correctly."""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime._api_keys import resolve_api_keys
from runtime._config import (
    EndpointConfig,
    HealthConfig,
    ModelConfig,
    RoleConfig,
    RuntimeConfig,
    Timeouts,
)
from runtime._config_load import (
    config_from_raw,
    load_config,
    parse_config_text,
    validate_config,
)
from runtime._errors import ConfigError, ConfigProblem, LLMRuntimeError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _minimal() -> dict[str, Any]:
    return {
        "endpoints": [{"name": "local", "url": "http://127.0.0.1:11434"}],
        "models": [{"name": "llama3", "deployments": ["local"]}],
    }


def test_examples_yaml_and_toml_load_equal() -> None:
    from_yaml = load_config(EXAMPLES / "llm.yaml")
    from_toml = load_config(EXAMPLES / "llm.toml")
    assert from_yaml == from_toml
    assert set(from_yaml.roles) == {"overseer", "generator", "evaluator", "triage", "escalation"}
    assert [e.url for e in from_yaml.endpoints][:2] == [
        "http://127.0.0.1:11434",
        "http://127.0.0.1:11435",
    ]
    assert from_yaml.quota.daily_requests == 1000
    assert from_yaml.quota.warn_ratio == 0.8


def test_example_yaml_documents_every_key() -> None:
    """Every schema key appears in the annotated example (so the example stays complete)."""
    text = (EXAMPLES / "llm.yaml").read_text()
    schema = (RuntimeConfig, EndpointConfig, ModelConfig, RoleConfig, HealthConfig, Timeouts)
    for cls in schema:
        for field in msgspec.structs.fields(cls):
            assert re.search(rf"\b{field.name}\b", text), f"{cls.__name__}.{field.name}"


def test_minimal_config_gets_documented_defaults() -> None:
    config = config_from_raw(_minimal())
    assert config.event_log.path == "runtime-events.sqlite3"
    assert config.event_log.store_bodies is False
    assert config.health.quarantine_seconds == 300
    assert config.health.check_interval_seconds == 60
    assert config.retry.max_attempts == 3
    assert config.quota.on_exceeded == "fail"
    assert config.endpoints[0].timeouts == Timeouts(connect=5, first_byte=60, idle=30, total=300)
    assert config.endpoints[0].api == "ollama" and config.endpoints[0].verify_tls is True


def test_empty_sections_in_yaml_and_toml(tmp_path: Path) -> None:
    yaml_file = tmp_path / "c.yml"
    yaml_file.write_text(yaml.safe_dump(_minimal()))
    toml_file = tmp_path / "c.toml"
    toml_file.write_text(
        '[[endpoints]]\nname = "local"\nurl = "http://127.0.0.1:11434"\n'
        '[[models]]\nname = "llama3"\ndeployments = ["local"]\n'
    )
    assert load_config(yaml_file) == load_config(toml_file) == config_from_raw(_minimal())
    assert load_config(str(yaml_file)) == load_config(yaml_file)


def test_python_built_config_is_validated_and_canonical() -> None:
    config = RuntimeConfig(
        endpoints=[EndpointConfig(name="a", url="HTTP://LocalHost:11434/")],  # type: ignore[arg-type]
        models=(ModelConfig(name="m", deployments=("a",)),),
        roles={"g": ["m"]},  # type: ignore[dict-item]
    )
    assert config.endpoints == (EndpointConfig(name="a", url="http://localhost:11434"),)
    assert config.roles == {"g": RoleConfig(models=("m",))}
    assert validate_config(config) is config
    assert config == config_from_raw(msgspec.to_builtins(config))


def test_python_built_invalid_config_lists_every_problem() -> None:
    with pytest.raises(ConfigError) as info:
        RuntimeConfig(
            endpoints=(EndpointConfig(name="a", url="file:///x", max_concurrency=0),),
            models=(ModelConfig(name="m", deployments=("b",)),),
            health=HealthConfig(window_size=True),  # a bool is not an int here
        )
    assert info.value.paths == (
        "health.window_size",
        "endpoints[0].url",
        "endpoints[0].max_concurrency",
        "models[0].deployments[0]",
    )


def test_config_is_frozen() -> None:
    config = config_from_raw(_minimal())
    with pytest.raises(AttributeError):
        config.retry = config.retry  # type: ignore[misc]


def test_helpers() -> None:
    config = load_config(EXAMPLES / "llm.yaml")
    assert config.role_chain("escalation") == ("qwen2.5-coder:14b", "codellama")
    assert config.role_chain("overseer") == ("llama3", "llama3.2:3b")
    assert config.role_kind("generator") == "code"
    assert config.role_kind("triage") == "triage"
    assert config.model("qwen-coder") is config.model("qwen2.5-coder:14b")
    assert config.endpoint("hosted").api == "openai"
    assert [e.name for e in config.deployments("qwen-coder")] == ["local-a", "hosted"]
    effective = config.timeouts_for("qwen-coder", "local-a")
    assert effective == Timeouts(connect=5, first_byte=300, idle=30, total=300)
    assert config.timeouts_for("llama3", "local-b") == Timeouts()
    with pytest.raises(KeyError, match="configured roles: escalation, evaluator"):
        config.role_chain("writer")
    with pytest.raises(KeyError, match="configured models: llama3, codellama"):
        config.model("gpt-5")
    with pytest.raises(KeyError, match="configured endpoints: local-a"):
        config.endpoint("nowhere")


def test_resolve_api_keys() -> None:
    config = load_config(EXAMPLES / "llm.yaml")
    keys = resolve_api_keys(config, {"EXAMPLE_API_KEY": "sk-test"})
    assert keys == {"local-a": None, "local-b": None, "hosted": "sk-test", "lmstudio": None}


@pytest.mark.parametrize(
    ("environ", "state"), [({}, "is not set"), ({"EXAMPLE_API_KEY": ""}, "is empty")]
)
def test_resolve_api_keys_missing_variable(environ: dict[str, str], state: str) -> None:
    config = load_config(EXAMPLES / "llm.yaml")
    with pytest.raises(ConfigError) as info:
        resolve_api_keys(config, environ)
    assert info.value.paths == ("endpoints[2].api_key_env",)
    assert state in str(info.value) and "'EXAMPLE_API_KEY'" in str(info.value)


def test_config_error_shape() -> None:
    error = ConfigError([ConfigProblem("a.b", "bad"), ConfigProblem("c[0]", "worse")])
    assert isinstance(error, LLMRuntimeError) and isinstance(error, ValueError)
    assert str(error).splitlines() == [
        "invalid configuration (2 problems):",
        "  a.b: bad",
        "  c[0]: worse",
    ]
    copy = pickle.loads(pickle.dumps(error))
    assert copy.problems == error.problems


# --- property tests ---------------------------------------------------------------

_NAMES = st.text("abcdefghij-_.:0123456789", min_size=1, max_size=12)


@st.composite
def valid_configs(draw: st.DrawFn) -> dict[str, Any]:
    """Raw configs (plain data, no None: TOML has no null) that must load."""
    endpoint_names = draw(st.lists(_NAMES, min_size=1, max_size=4, unique=True))
    endpoints = [
        {
            "name": name,
            "url": f"http://127.0.0.1:{11000 + i}",
            "api": draw(st.sampled_from(["ollama", "openai"])),
            "max_concurrency": draw(st.integers(1, 64)),
            "timeouts": {"connect": draw(st.floats(0.1, 60)), "total": draw(st.integers(1, 900))},
        }
        for i, name in enumerate(endpoint_names)
    ]
    model_names = draw(st.lists(_NAMES, min_size=1, max_size=4, unique=True))
    models = []
    for name in model_names:
        deployments = draw(st.lists(st.sampled_from(endpoint_names), min_size=1, unique=True))
        model: dict[str, Any] = {"name": name, "deployments": deployments}
        if draw(st.booleans()):
            model["strategy"] = "weighted"
            model["weights"] = {d: draw(st.floats(0.01, 100)) for d in deployments}
        models.append(model)
    roles = {
        role: draw(st.lists(st.sampled_from(model_names), min_size=1, unique=True))
        for role in draw(st.lists(st.sampled_from(["overseer", "gen", "x y"]), unique=True))
    }
    window = draw(st.integers(1, 500))
    return {
        "endpoints": endpoints,
        "models": models,
        "roles": roles,
        "health": {
            "window_size": window,
            "min_calls": draw(st.integers(1, window)),
            "failure_rate_threshold": draw(st.floats(0.01, 1)),
        },
        "retry": {"max_attempts": draw(st.integers(1, 10))},
        "quota": {"reset_hour": draw(st.integers(0, 23)), "timezone": "Europe/Berlin"},
    }


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"


def to_toml(raw: dict[str, Any]) -> str:
    """A tiny TOML writer for the shapes above (inline tables and arrays only)."""
    return "".join(f"{json.dumps(key)} = {_toml_value(value)}\n" for key, value in raw.items())


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_configs())
def test_yaml_and_toml_round_trip_equal(raw: dict[str, Any]) -> None:
    expected = config_from_raw(raw)
    from_yaml = config_from_raw(parse_config_text(yaml.safe_dump(raw), "yaml"))
    from_toml = config_from_raw(parse_config_text(to_toml(raw), "toml"))
    assert from_yaml == expected == from_toml
    assert config_from_raw(msgspec.to_builtins(expected)) == expected


# (key path, where to write it in a raw config, out-of-range values)
_BREAKS: list[tuple[str, tuple[Any, ...], list[Any]]] = [
    ("health.failure_threshold", ("health", "failure_threshold"), [0, -1, 2**200]),
    ("health.failure_rate_threshold", ("health", "failure_rate_threshold"), [0, 1.5, -0.2]),
    ("health.window_size", ("health", "window_size"), [0, -5]),
    ("health.quarantine_seconds", ("health", "quarantine_seconds"), [0, -1.0, 1e-4]),
    ("health.quarantine_backoff", ("health", "quarantine_backoff"), [0.5, 0]),
    (
        "health.check_interval_seconds",
        ("health", "check_interval_seconds"),
        [-1, 1e-9, 0.05, 86_401],
    ),
    ("health.half_open_probes", ("health", "half_open_probes"), [0]),
    ("retry.max_attempts", ("retry", "max_attempts"), [0, -3, 101]),
    ("retry.retry_budget_ratio", ("retry", "retry_budget_ratio"), [0, 2]),
    ("retry.request_deadline_seconds", ("retry", "request_deadline_seconds"), [0]),
    ("quota.reset_hour", ("quota", "reset_hour"), [24, -1]),
    ("quota.warn_ratio", ("quota", "warn_ratio"), [0, 1.01]),
    ("quota.daily_tokens", ("quota", "daily_tokens"), [0, -10, 10**15 + 1, 2**200]),
    ("performance.explore_ratio", ("performance", "explore_ratio"), [-0.1, 1.5]),
    ("event_log.snapshot_every", ("event_log", "snapshot_every"), [0, 10**9 + 1]),
    ("endpoints[0].max_concurrency", ("endpoints", 0, "max_concurrency"), [0, -1, 10_001, 2**200]),
    ("endpoints[0].timeouts.idle", ("endpoints", 0, "timeouts", "idle"), [0, -2.5, 1e-4, 86_401]),
    ("models[0].max_tokens", ("models", 0, "max_tokens"), [0, 2**200]),
    ("models[0].temperature", ("models", 0, "temperature"), [-0.5]),
]


def _put(raw: dict[str, Any], where: tuple[Any, ...], value: Any) -> None:
    target: Any = raw
    for key in where[:-1]:
        target = target.setdefault(key, {}) if isinstance(key, str) else target[key]
    target[where[-1]] = value


@settings(max_examples=80, deadline=None)
@given(valid_configs(), st.sampled_from(_BREAKS), st.data())
def test_a_broken_bound_is_reported_at_its_path(
    raw: dict[str, Any], broken: tuple[str, tuple[Any, ...], list[Any]], data: st.DataObject
) -> None:
    path, where, values = broken
    _put(raw, where, data.draw(st.sampled_from(values)))
    with pytest.raises(ConfigError) as info:
        config_from_raw(raw)
    assert info.value.paths == (path,)
