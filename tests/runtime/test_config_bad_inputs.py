"""Bad configurations are rejected whole, every problem named by its key path."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from runtime._config_load import MAX_CONFIG_BYTES, config_from_raw, load_config
from runtime._errors import ConfigError
from runtime._urls import check_url, normalize_url


def _minimal() -> dict[str, Any]:
    return {
        "endpoints": [
            {"name": "a", "url": "http://127.0.0.1:11434"},
            {"name": "b", "url": "http://127.0.0.1:11435"},
        ],
        "models": [{"name": "llama3", "deployments": ["a", "b"]}],
        "roles": {"generator": ["llama3"]},
    }


def _reject(raw: Any) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        config_from_raw(raw)
    return info.value


def _reject_file(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value


# --- the file itself ---------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    error = _reject_file(tmp_path / "nope.yaml")
    assert error.paths == (str(tmp_path / "nope.yaml"),)
    assert "file not found" in str(error)


def test_wrong_extension(tmp_path: Path) -> None:
    path = tmp_path / "llm.json"
    path.write_text("{}")
    assert "use .yaml, .yml or .toml" in str(_reject_file(path))


def test_directory(tmp_path: Path) -> None:
    path = tmp_path / "dir.yaml"
    path.mkdir()
    assert "is a directory" in str(_reject_file(path))


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read anything")
def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "secret.yaml"
    path.write_text("endpoints: []")
    path.chmod(0)
    assert "cannot be read" in str(_reject_file(path))


def test_too_large_and_not_utf8(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (MAX_CONFIG_BYTES + 1))
    assert "larger than" in str(_reject_file(big))
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"a = 1\n\xff\xfe")
    assert "not UTF-8" in str(_reject_file(binary))


def test_yaml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("endpoints:\n  - name: a\n    url: [unclosed\nmodels: []\n")
    error = _reject_file(path)
    assert len(error.problems) == 1
    assert error.paths[0].startswith(f"{path}:4:")
    assert "YAML syntax error" in str(error)


def test_toml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[[endpoints]]\nname = "a"\nurl = http://x\n')
    error = _reject_file(path)
    assert error.paths == (f"{path}:3:7",)
    assert "TOML syntax error: Invalid value" in str(error)


def test_yaml_duplicate_key_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text(
        "roles:\n  generator: [llama3]\n  generator: [codellama]\nendpoints: []\nmodels: []\n"
    )
    error = _reject_file(path)
    assert error.paths == (f"{path}:3:3",)
    assert "duplicate key 'generator' (first defined on line 2)" in str(error)


def test_empty_file_reports_missing_sections(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing yet\n")
    assert _reject_file(path).paths == ("endpoints", "models")


def test_top_level_must_be_a_mapping() -> None:
    error = _reject([1, 2])
    assert error.paths == ("",)
    assert "must be a mapping of sections" in str(error)


# --- types, unknown keys ------------------------------------------------------------


def test_all_type_errors_are_collected() -> None:
    raw = _minimal()
    raw["endpoints"][0]["max_concurrency"] = "eight"
    raw["endpoints"][1]["timeouts"] = {"connect": "soon", "idle": [1]}
    raw["models"][0]["deployments"] = "a"
    raw["roles"]["triage"] = 3
    raw["health"] = {"window_size": 2.5, "check_generation": "yes"}
    raw["quota"] = {"on_exceeded": "explode"}
    error = _reject(raw)
    assert error.paths == (
        "endpoints[0].max_concurrency",
        "endpoints[1].timeouts.connect",
        "endpoints[1].timeouts.idle",
        "models[0].deployments",
        "roles.triage",
        "health.window_size",
        "health.check_generation",
        "quota.on_exceeded",
    )
    assert "max_concurrency: expected int | null, got str" in str(error)
    assert "'explode' is not one of 'fail', 'fallback'" in str(error)


def test_a_type_error_in_an_endpoint_does_not_cascade() -> None:
    raw = _minimal()
    raw["endpoints"][1]["max_concurrency"] = "lots"  # endpoint b fails to convert...
    error = _reject(raw)
    assert error.paths == ("endpoints[1].max_concurrency",)  # ...but models may still name it


def test_unknown_keys_list_the_valid_ones() -> None:
    raw = _minimal()
    raw["retyr"] = {}
    raw["endpoints"][0]["base_url"] = "x"
    raw["health"] = {"quarantine_duration": 300}
    error = _reject(raw)
    assert error.paths == ("retyr", "endpoints[0].base_url", "health.quarantine_duration")
    text = str(error)
    assert "did you mean 'retry'?" in text
    assert "valid keys: name, url, api, api_key_env" in text
    assert "did you mean 'quarantine_seconds'?" in text


def test_literal_api_key_is_refused_without_echoing_it() -> None:
    raw = _minimal()
    raw["endpoints"][1]["api_key"] = "sk-live-123456"
    error = _reject(raw)
    assert error.paths == ("endpoints[1].api_key",)
    assert "api_key_env" in str(error)
    assert "sk-live" not in str(error)


def test_api_key_env_must_be_a_variable_name_and_is_not_echoed() -> None:
    raw = _minimal()
    raw["endpoints"][0]["api_key_env"] = "sk-live-123456"
    error = _reject(raw)
    assert error.paths == ("endpoints[0].api_key_env",)
    assert "sk-live" not in str(error)


# --- ranges and names ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "key", "value", "rule"),
    [
        ("retry", "max_attempts", -1, "must be in [1, 100]"),
        ("health", "window_size", 0, "must be in [1, 100_000]"),
        ("performance", "window", 0, "must be in [1, 1_000_000]"),
        ("health", "failure_rate_threshold", 1.5, "must be in (0, 1]"),
        ("retry", "backoff_cap", float("inf"), "is not a finite number"),
        ("quota", "reset_hour", 24, "must be in [0, 23]"),
    ],
)
def test_out_of_range(section: str, key: str, value: float, rule: str) -> None:
    raw = _minimal()
    raw[section] = {key: value}
    error = _reject(raw)
    assert error.paths == (f"{section}.{key}",)
    assert rule in str(error)


def test_cross_field_bounds() -> None:
    raw = _minimal()
    raw["health"] = {
        "window_size": 5,
        "min_calls": 6,
        "quarantine_seconds": 600,
        "quarantine_max_seconds": 60,
    }
    raw["retry"] = {"backoff_base": 2, "backoff_cap": 1}
    raw["performance"] = {"window": 3, "min_samples": 4}
    assert _reject(raw).paths == (
        "health.min_calls",
        "health.quarantine_max_seconds",
        "retry.backoff_cap",
        "performance.min_samples",
    )


def test_duplicate_names() -> None:
    raw = _minimal()
    raw["endpoints"].append({"name": "a", "url": "http://127.0.0.1:9"})
    raw["models"].append({"name": "llama3", "deployments": ["a"]})
    raw["models"].append({"name": "mistral", "alias": "llama3", "deployments": ["a"]})
    raw["models"][0]["deployments"] = ["a", "a"]
    raw["roles"]["generator"] = ["llama3", "llama3"]
    error = _reject(raw)
    assert error.paths == (
        "endpoints[2].name",
        "models[0].deployments[1]",
        "models[1].name",
        "models[2].alias",
        "roles.generator[1]",
    )
    assert "duplicate endpoint name 'a'; already used at endpoints[0].name" in str(error)


def test_references() -> None:
    raw = _minimal()
    raw["models"][0]["deployments"] = ["a", "gpu-server"]
    raw["models"].append(
        {
            "name": "codellama",
            "deployments": ["a", "b"],
            "strategy": "weighted",
            "weights": {"a": 1, "c": 2, "b": 0},
        }
    )
    raw["models"].append({"name": "mistral", "deployments": ["a"], "weights": {"a": 1}})
    raw["models"].append({"name": "phi", "deployments": [], "strategy": "weighted"})
    raw["roles"]["escalation"] = {"models": ["qwen2.5-coder:14b"], "kind": "code"}
    raw["roles"]["empty"] = []
    raw["quota"] = {
        "per_model": {"gpt": {}},
        "per_role": {"writer": {}},
        "timezone": "Mars/Olympus",
    }
    error = _reject(raw)
    assert error.paths == (
        "models[0].deployments[1]",
        "models[1].weights.c",
        "models[1].weights.b",
        "models[2].weights",
        "models[3].deployments",
        "models[3].weights",
        "roles.escalation[0]",
        "roles.empty",
        "quota.timezone",
        "quota.per_model.gpt",
        "quota.per_role.writer",
    )
    text = str(error)
    assert "unknown endpoint 'gpu-server'; endpoints: a, b" in text
    assert "unknown model 'qwen2.5-coder:14b'; models: codellama, llama3, mistral, phi" in text


def test_five_mistakes_give_five_problems(tmp_path: Path) -> None:
    path = tmp_path / "llm.yaml"
    raw = _minimal()
    raw["endpoints"][1]["url"] = "file:///etc"  # 1 bad scheme
    raw["retry"] = {"max_attempts": -2}  # 2 negative retries
    raw["health"] = {"failure_rate_threshold": 1.5}  # 3 rate above 1
    raw["roles"]["triage"] = ["tinyllama"]  # 4 missing model
    raw["performance"] = {"windw": 10}  # 5 unknown key
    path.write_text(yaml.safe_dump(raw))
    error = _reject_file(path)
    assert len(error.problems) == 5
    assert set(error.paths) == {
        "endpoints[1].url",
        "retry.max_attempts",
        "health.failure_rate_threshold",
        "roles.triage[0]",
        "performance.windw",
    }
    line = "  endpoints[1].url: 'file:///etc' is not an http(s) URL; use http://host:port"
    assert line in str(error).splitlines()


def test_keys_that_need_quoting_in_paths() -> None:
    raw = _minimal()
    raw["quota"] = {"per_model": {"llama3": {"daily_requests": 0}}}
    raw["models"].append({"name": "llama3.2:3b", "deployments": ["a"]})
    raw["quota"]["per_model"]["llama3.2:3b"] = {"daily_tokens": -1}
    assert _reject(raw).paths == (
        "quota.per_model.llama3.daily_requests",
        'quota.per_model["llama3.2:3b"].daily_tokens',
    )


# --- URLs -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://user:pw@host:11434", "contains credentials"),
        ("http://sk-abc@host", "contains credentials"),
        ("file:///x", "is not an http(s) URL"),
        ("ftp://host/models", "is not an http(s) URL"),
        ("127.0.0.1:11434", "is not an http(s) URL"),
        ("http://169.254.169.254/", "link-local or cloud metadata"),
        ("http://169.254.1.7:11434", "link-local or cloud metadata"),
        ("http://[fe80::1]:80", "link-local or cloud metadata"),
        ("http://[::ffff:169.254.169.254]/", "link-local or cloud metadata"),
        ("http://[fd00:ec2::254]/", "link-local or cloud metadata"),
        ("http://2852039166/", "link-local or cloud metadata"),
        ("http://0xa9.0xfe.0xa9.0xfe/", "link-local or cloud metadata"),
        ("http://metadata.google.internal/computeMetadata/v1", "link-local or cloud metadata"),
        ("http://Metadata.Google.Internal./", "link-local or cloud metadata"),
        ("http://host:11434/api?key=abc", "put the key in an environment variable"),
        ("http://host:11434/#frag", "query string or fragment"),
        ("http://host:11434/?", "query string or fragment"),
        ("http://:11434", "has no host"),
        ("http://host:99999", "is not a valid URL"),
        ("http://host:0", "port 0"),
    ],
)
def test_bad_urls(url: str, fragment: str) -> None:
    problem = check_url(url)
    assert problem is not None and fragment in problem
    raw = _minimal()
    raw["endpoints"][1]["url"] = url
    error = _reject(raw)
    assert error.paths == ("endpoints[1].url",)
    assert "pw" not in str(error) and "sk-abc" not in str(error)


@pytest.mark.parametrize(
    ("url", "normal"),
    [
        ("http://127.0.0.1:11434/", "http://127.0.0.1:11434"),
        ("HTTPS://API.Example.com/v1//", "https://api.example.com/v1"),
        ("http://[::1]:8080", "http://[::1]:8080"),
        ("http://gpu-server:11434", "http://gpu-server:11434"),
        ("http://192.168.0.56:11434", "http://192.168.0.56:11434"),
    ],
)
def test_good_urls_are_normalised(url: str, normal: str) -> None:
    assert check_url(url) is None
    assert normalize_url(url) == normal
    raw = _minimal()
    raw["endpoints"][0]["url"] = url
    assert config_from_raw(raw).endpoints[0].url == normal
