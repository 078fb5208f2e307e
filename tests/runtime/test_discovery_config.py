"""The ``models:`` key of an endpoint (discovery) in config files, and its checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runtime import ConfigError
from runtime._config_load import config_from_raw, load_config


def raw(**endpoint: Any) -> dict[str, Any]:
    return {"endpoints": [{"name": "lm", "url": "http://127.0.0.1:1234/v1", **endpoint}]}


def test_auto_and_patterns_load_from_yaml_and_toml_alike(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "endpoints:\n"
        "  - {name: lm, url: 'http://127.0.0.1:1234/v1', api: openai, models: auto}\n"
        "  - {name: ol, url: 'http://127.0.0.1:11434', models: ['qwen*', 'llama3*']}\n"
    )
    (tmp_path / "a.toml").write_text(
        '[[endpoints]]\nname = "lm"\nurl = "http://127.0.0.1:1234/v1"\napi = "openai"\n'
        'models = "auto"\n\n'
        '[[endpoints]]\nname = "ol"\nurl = "http://127.0.0.1:11434"\n'
        'models = ["qwen*", "llama3*"]\n'
    )
    from_yaml, from_toml = load_config(tmp_path / "a.yaml"), load_config(tmp_path / "a.toml")
    assert from_yaml == from_toml
    assert [e.models for e in from_yaml.endpoints] == ["auto", ("qwen*", "llama3*")]
    assert from_yaml.models == ()  # no configured model needed when an endpoint discovers
    assert from_yaml.endpoints[0].url == "http://127.0.0.1:1234/v1"  # as written


def test_without_discovery_a_model_is_still_required() -> None:
    with pytest.raises(ConfigError, match=r"models: at least one model is required"):
        config_from_raw(raw())


@pytest.mark.parametrize(
    ("models", "message"),
    [
        ([], r"endpoints\[0\]\.models: needs non-empty glob patterns"),
        (["qwen*", " "], r"endpoints\[0\]\.models: needs non-empty glob patterns"),
        ("all", r"endpoints\[0\]\.models"),
        (3, r"endpoints\[0\]\.models"),
    ],
)
def test_a_bad_models_value_says_what_to_write(models: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config_from_raw(raw(models=models))
