"""Configs that would validate and then break are refused: names, bounds, paths, URLs.

Each rule is tried from a YAML file (as a user writes it) and, where it matters, from a
config built in Python: ``RuntimeConfig.__post_init__`` runs the same checks.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime._config import EndpointConfig, HealthConfig, ModelConfig, RuntimeConfig
from runtime._config_load import config_from_raw, load_config
from runtime._errors import ConfigError

HUGE = 2**200


def _minimal(tmp_path: Path) -> dict[str, Any]:
    return {
        "endpoints": [
            {"name": "a", "url": "http://127.0.0.1:11434"},
            {"name": "b", "url": "http://127.0.0.1:11435"},
        ],
        "models": [{"name": "llama3", "deployments": ["a", "b"]}],
        "roles": {"generator": ["llama3"]},
        "event_log": {"path": str(tmp_path / "events.sqlite3")},
    }


def _reject(raw: Any) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        config_from_raw(raw)
    return info.value


def _reject_yaml(tmp_path: Path, text: str) -> ConfigError:
    """Load ``text`` (appended to a valid config) from a YAML file; it must fail."""
    base = yaml.safe_dump({k: v for k, v in _minimal(tmp_path).items() if k != "event_log"})
    path = tmp_path / "llm.yaml"
    path.write_text(base + text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value


# --- names ----------------------------------------------------------------------------


def test_at_sign_in_an_endpoint_name_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "llm.yaml"
    path.write_text(
        "endpoints: [{name: gpu@box1, url: 'http://127.0.0.1:1'}]\n"
        "models: [{name: llama3, deployments: [gpu@box1]}]\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    error = info.value
    assert error.paths == ("endpoints[0].name",)
    assert "model@endpoint" in str(error)
    assert "'gpu-box1'" in str(error)  # what to write instead


def test_at_sign_in_an_alias_is_refused_but_a_model_digest_is_allowed(tmp_path: Path) -> None:
    raw = _minimal(tmp_path)
    raw["models"][0]["alias"] = "fast@home"
    assert _reject(raw).paths == ("models[0].alias",)
    raw = _minimal(tmp_path)
    raw["models"][0]["name"] = "llama3@sha256:abc123"  # split at the last '@' still works
    raw["roles"]["generator"] = ["llama3@sha256:abc123"]
    assert config_from_raw(raw).models[0].name == "llama3@sha256:abc123"


def test_nul_and_control_characters_in_names_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "llm.yaml"
    path.write_text(
        "endpoints:\n"
        '  - {name: "gpu\\0box", url: "http://127.0.0.1:1"}\n'
        '  - {name: "b", url: "http://127.0.0.1:2"}\n'
        "models:\n"
        '  - {name: "llama\\e[31m", deployments: [b]}\n'
        '  - {name: "mistral", alias: "m\\u202e", deployments: [b]}\n'
        "roles:\n"
        '  "gen\\n": ["mistral"]\n'
        '  writer: {models: [mistral], kind: "co\\tde"}\n'
        f"event_log: {{path: {str(tmp_path / 'e.db')!r}}}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.paths == (
        "endpoints[0].name",
        "models[0].name",
        "models[1].alias",
        'roles["gen\\n"]',
        "roles.writer.kind",
    )
    assert "'gpu\\x00box' contains a control or invisible character" in str(info.value)
    assert "\x00" not in str(info.value) and "\x1b" not in str(info.value)


@pytest.mark.parametrize(
    "name",
    [
        "sk-proj-abc123def456",
        "sk-abc",
        "Bearer abc123",
        "ghp_0123456789abcdefABCD",
        "xoxb-1234567890-abcdef",
        "AKIAIOSFODNN7EXAMPLE",
        "hf_aBcDeFgHiJkLmNoPqRsTuV",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc",
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b",
        "Zx8Qp2Lm5Tr9Wv3Yk7Nb4Hc6",
        "api_key=abc123",
    ],
)
def test_secret_looking_endpoint_names_are_refused_without_echo(tmp_path: Path, name: str) -> None:
    raw = _minimal(tmp_path)
    raw["endpoints"][1]["name"] = name
    raw["models"][0]["deployments"] = ["a", name]
    error = _reject(raw)
    assert error.paths == ("endpoints[1].name",)
    assert "unredacted in logs, metric labels and events" in str(error)
    assert "api_key_env" in str(error)
    assert name not in str(error)


@pytest.mark.parametrize(
    "name",
    ["local", "gpu-box", "ollama-gpu-server-01", "lm_studio", "box.lan", "vllm-8000", "GPU2"],
)
def test_ordinary_endpoint_names_pass(tmp_path: Path, name: str) -> None:
    raw = _minimal(tmp_path)
    raw["endpoints"][1]["name"] = name
    raw["models"][0]["deployments"] = ["a", name]
    assert config_from_raw(raw).endpoints[1].name == name


_PLAIN = st.text("abcdefghijklmnopqrstuvwxyz0123456789-_.:", min_size=1, max_size=16)


@settings(max_examples=60, deadline=None)
@given(_PLAIN, _PLAIN, st.sampled_from(["@", "\x00", "\x1b", "\n", "\x7f", "\u2028"]))
def test_a_bad_character_anywhere_in_an_endpoint_name_is_refused_at_its_path(
    head: str, tail: str, bad: str
) -> None:
    name = head + bad + tail
    raw = {
        "endpoints": [{"name": name, "url": "http://127.0.0.1:1"}],
        "models": [{"name": "m", "deployments": [name]}],
    }
    error = _reject(raw)
    assert error.paths == ("endpoints[0].name",)
    assert bad == "@" or bad not in error.problems[0].message  # shown escaped


# --- numbers: bounds, finiteness, 2**200 ----------------------------------------------


def test_tiny_health_check_interval_is_refused(tmp_path: Path) -> None:
    # YAML 1.1 (PyYAML) needs the dot: a bare 1e-9 is a string, refused as one.
    error = _reject_yaml(tmp_path, "health:\n  check_interval_seconds: 1.0e-9\n")
    assert error.paths == ("health.check_interval_seconds",)
    assert "must be 0 (off) or in [0.1, 86_400]" in str(error)
    for ok in (0, 0.1, 60, 86_400):
        raw = _minimal(tmp_path)
        raw["health"] = {"check_interval_seconds": ok}
        assert config_from_raw(raw).health.check_interval_seconds == ok


def test_python_built_configs_obey_the_same_minimum(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        RuntimeConfig(
            endpoints=(EndpointConfig(name="a", url="http://127.0.0.1:1"),),
            models=(ModelConfig(name="m", deployments=("a",)),),
            health=HealthConfig(check_interval_seconds=1e-9),
        )
    assert info.value.paths == ("health.check_interval_seconds",)


# (where, too small, too big): every seconds-valued setting has both bounds.
_SECONDS: list[tuple[tuple[Any, ...], float, float]] = [
    (("endpoints", 0, "timeouts", "connect"), 0.0001, 86_401),
    (("endpoints", 0, "timeouts", "first_byte"), 0.0001, 86_401),
    (("endpoints", 0, "timeouts", "idle"), 0.0001, 86_401),
    (("endpoints", 0, "timeouts", "total"), 0.0001, 86_401),
    (("models", 0, "timeouts", "total"), 0.0001, 86_401),
    (("health", "quarantine_seconds"), 0.0001, 1e7),
    (("health", "quarantine_max_seconds"), 0.0001, 1e7),
    (("health", "degraded_latency_seconds"), 0.0001, 86_401),
    (("retry", "backoff_base"), -1, 3601),
    (("retry", "backoff_cap"), -1, 86_401),
    (("retry", "retry_after_cap_seconds"), -1, 86_401),
    (("retry", "request_deadline_seconds"), 0.0001, 86_401),
    (("shutdown", "drain_seconds"), -1, 3601),
]


def _put(raw: dict[str, Any], where: tuple[Any, ...], value: Any) -> str:
    target: Any = raw
    for key in where[:-1]:
        target = target.setdefault(key, {}) if isinstance(key, str) else target[key]
    target[where[-1]] = value
    return "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in where).lstrip(".")


@pytest.mark.parametrize(("where", "low", "high"), _SECONDS)
def test_seconds_have_a_minimum_and_a_maximum(
    tmp_path: Path, where: tuple[Any, ...], low: float, high: float
) -> None:
    for value in (low, high):
        raw = _minimal(tmp_path)
        path = _put(raw, where, value)
        if where[-1] == "backoff_base" and value == high:
            _put(raw, ("retry", "backoff_cap"), value)  # keep base <= cap
        error = _reject(raw)
        assert path in error.paths
        assert "is out of range; must be" in str(error)


@pytest.mark.parametrize(
    ("where", "limit"),
    [
        (("endpoints", 0, "max_concurrency"), 10_000),
        (("event_log", "snapshot_every"), 10**9),
        (("quota", "daily_tokens"), 10**15),
        (("quota", "daily_requests"), 10**15),
        (("health", "failure_threshold"), 10_000),
        (("health", "half_open_probes"), 10_000),
        (("retry", "max_attempts"), 100),
        (("models", 0, "max_tokens"), 10**8),
        (("performance", "window"), 1_000_000),
    ],
)
def test_integers_have_an_upper_bound(tmp_path: Path, where: tuple[Any, ...], limit: int) -> None:
    raw = _minimal(tmp_path)
    _put(raw, where, limit)
    if where[-1] == "window":
        raw["performance"]["min_samples"] = 1
    config_from_raw(raw)  # the bound itself is allowed
    for value in (limit + 1, HUGE):
        _put(raw, where, value)
        error = _reject(raw)
        assert error.paths == (_put(raw, where, value),)
    assert "an integer of 61 digits is out of range" in str(error)


def test_a_2_to_the_200_literal_in_yaml(tmp_path: Path) -> None:
    error = _reject_yaml(
        tmp_path,
        f"event_log: {{snapshot_every: {HUGE}}}\n"
        f"quota: {{daily_tokens: {HUGE}, per_model: {{llama3: {{daily_requests: {HUGE}}}}}}}\n"
        f"health: {{window_size: {HUGE}, quarantine_seconds: {HUGE}}}\n",
    )
    assert error.paths == (
        "event_log.snapshot_every",
        "health.window_size",
        "health.quarantine_seconds",
        "quota.daily_tokens",
        "quota.per_model.llama3.daily_requests",
    )


def test_floats_must_be_finite_from_yaml(tmp_path: Path) -> None:
    error = _reject_yaml(
        tmp_path,
        "retry: {request_deadline_seconds: .inf, backoff_base: .nan}\n"
        "health: {quarantine_seconds: -.inf}\n",
    )
    assert set(error.paths) == {
        "retry.request_deadline_seconds",
        "retry.backoff_base",
        "health.quarantine_seconds",
    }
    assert str(error).count("is not a finite number") == 3


def test_an_integer_too_long_to_read_is_a_clear_error(tmp_path: Path) -> None:
    for suffix, text in ((".yaml", "a: "), (".toml", "a = ")):
        path = tmp_path / f"long{suffix}"
        path.write_text(text + "9" * 5000 + "\n")
        with pytest.raises(ConfigError) as info:
            load_config(path)
        assert "4300 digits" in str(info.value)


# --- the event log path -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("/", "is a directory; name a file in it"),
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("{tmp}", "is a directory"),
        ("{tmp}/missing/events.sqlite3", "does not exist; create it first"),
        ("~/nowhere-x9/events.sqlite3", "'~' is not expanded"),
        ("{tmp}/a-file/events.sqlite3", "is not a directory"),
        ("{tmp}/ev\x1bents.sqlite3", "control or invisible character"),
    ],
)
def test_event_log_path(tmp_path: Path, value: str, fragment: str) -> None:
    (tmp_path / "a-file").write_text("x")
    before = sorted(os.listdir(tmp_path))
    raw = _minimal(tmp_path)
    raw["event_log"] = {"path": value.replace("{tmp}", str(tmp_path))}
    error = _reject(raw)
    assert error.paths == ("event_log.path",)
    assert fragment in str(error)
    assert sorted(os.listdir(tmp_path)) == before  # checking created nothing


def test_event_log_path_with_a_nul_byte_from_yaml(tmp_path: Path) -> None:
    error = _reject_yaml(tmp_path, 'event_log: {path: "events\\0.sqlite3"}\n')
    assert error.paths == ("event_log.path",)
    assert "contains a NUL byte" in str(error)


def test_a_relative_event_log_path_in_the_working_directory_passes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    raw = _minimal(tmp_path)
    raw["event_log"] = {"path": "events.sqlite3"}
    assert config_from_raw(raw).event_log.path == "events.sqlite3"
    assert os.listdir(tmp_path) == []


# --- URLs -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://gpu box:11434", "contains a space"),
        ("http://host:11434/a b", "contains a space"),
        ("http://host:11434/\tx", "control character ('\\t')"),
        ("http://host\x00:11434", "control character ('\\x00')"),
        ("http://host:11434/\u202e", "control character"),
    ],
)
def test_urls_with_spaces_or_control_characters(tmp_path: Path, url: str, fragment: str) -> None:
    raw = _minimal(tmp_path)
    raw["endpoints"][1]["url"] = url
    error = _reject(raw)
    assert error.paths == ("endpoints[1].url",)
    assert fragment in str(error)


@pytest.mark.parametrize(
    "query",
    [
        "?key=s3cr3tvalue",
        "?api_key=s3cr3tvalue",
        "?token=s3cr3tvalue",
        "?access_token=s3cr3tvalue",
        "?x=1&openai_api_key=s3cr3tvalue",
        "?sig=s3cr3tvalue",
        "?q=sk-s3cr3tvalue",
        "#access_token=s3cr3tvalue",
    ],
)
def test_a_key_in_the_url_query_is_refused_and_not_echoed(tmp_path: Path, query: str) -> None:
    raw = _minimal(tmp_path)
    raw["endpoints"][1]["url"] = "http://host:11434/v1" + query
    error = _reject(raw)
    assert error.paths == ("endpoints[1].url",)
    assert "carries a key or token in its query string" in str(error)
    assert "api_key_env" in str(error)
    assert "s3cr3tvalue" not in str(error)


def test_userinfo_and_plain_queries_are_still_refused_without_echo(tmp_path: Path) -> None:
    raw = _minimal(tmp_path)
    raw["endpoints"][0]["url"] = "http://user:pw-s3cr3t@host:11434/?token=z"
    raw["endpoints"][1]["url"] = "http://host:11434/?verbose=s3cr3t"
    error = _reject(raw)
    assert error.paths == ("endpoints[0].url", "endpoints[1].url")
    assert "contains credentials" in str(error)
    assert "has a query string or fragment" in str(error)
    assert "s3cr3t" not in str(error)
