"""API keys: read from the environment variables a config names, and registered so
that every sink masks them by exact value (``events._secrets``)."""

from __future__ import annotations

from collections.abc import Mapping

from runtime._config import RuntimeConfig
from runtime._config_check import key_path
from runtime._errors import ConfigError, ConfigProblem
from runtime._redaction import register_secret

__all__ = ["resolve_api_keys"]


def resolve_api_keys(config: RuntimeConfig, environ: Mapping[str, str]) -> dict[str, str | None]:
    """Endpoint name -> API key read from ``environ`` (None where no key is configured).

    Entry points pass ``os.environ``; tests pass a dict.

    Raises:
        ConfigError: a named variable is missing or empty; every one is listed.
    """
    keys: dict[str, str | None] = {}
    problems: list[ConfigProblem] = []
    for index, endpoint in enumerate(config.endpoints):
        name = endpoint.api_key_env
        value = environ.get(name) if name is not None else None
        if name is not None and not value:
            state = "is empty" if name in environ else "is not set"
            problems.append(
                ConfigProblem(
                    key_path(key_path("endpoints", index), "api_key_env"),
                    f"environment variable {name!r} {state}; export the key in it "
                    f"or remove api_key_env from endpoint {endpoint.name!r}",
                )
            )
        keys[endpoint.name] = value
    if problems:
        raise ConfigError(problems)
    for key in keys.values():
        register_secret(key)  # masked by exact value in every sink from now on
    return keys
