"""Reading, decoding and validating configuration files (YAML and TOML).

Validation is two-phase so that one run reports every problem:

1. the file is parsed leniently into plain dicts and lists (YAML or TOML);
2. each section, item and field is converted on its own with ``msgspec.convert``,
   so a type error in one place does not hide the others; then the semantic checks
   of ``runtime._config_check`` run on whatever converted.

Everything found is raised at once as one ``ConfigError``. A ``RuntimeConfig`` built
in Python goes through the same steps (``canonical_sections``), so both paths
accept and reject exactly the same configurations.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import msgspec
import yaml

from runtime._config import EndpointConfig, ModelConfig, RoleConfig, RuntimeConfig
from runtime._config_check import ConfigParts, check_parts, key_path
from runtime._errors import ConfigError, ConfigProblem
from runtime._urls import normalize_url

__all__ = [
    "MAX_CONFIG_BYTES",
    "canonical_sections",
    "config_from_raw",
    "load_config",
    "parse_config_text",
    "validate_config",
]

MAX_CONFIG_BYTES = 1 << 20
"""Config files larger than this are refused (a config is a few kilobytes)."""

_FORMATS = {".yaml": "yaml", ".yml": "yaml", ".toml": "toml"}
# Keys people write when they mean api_key_env; the value is never echoed back.
_SECRET_KEYS = frozenset({"api_key", "apikey", "api-key", "key", "token", "password", "secret"})
_INVALID: Any = object()  # a value that failed to convert; its problem is already recorded


class _Problems(list[ConfigProblem]):
    def add(self, path: str, message: str) -> None:
        self.append(ConfigProblem(path, message))


def load_config(path: str | os.PathLike[str]) -> RuntimeConfig:
    """Read, parse and validate the YAML or TOML config file at ``path``.

    Raises:
        ConfigError: the file is missing, unreadable, too large, has the wrong
            extension or bad syntax, or its content is invalid; ``problems``
            lists everything found, by key path.
    """
    file = Path(path)
    fmt = _FORMATS.get(file.suffix.lower())
    if fmt is None:
        raise _error(
            str(file), f"unsupported file extension {file.suffix!r}; use .yaml, .yml or .toml"
        )
    try:
        if file.stat().st_size > MAX_CONFIG_BYTES:
            raise _error(str(file), f"is larger than {MAX_CONFIG_BYTES} bytes; not a config")
        data = file.read_bytes()
    except FileNotFoundError:
        raise _error(str(file), "file not found") from None
    except IsADirectoryError:
        raise _error(str(file), "is a directory, not a config file") from None
    except OSError as exc:
        raise _error(str(file), f"cannot be read: {exc.strerror or exc}") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _error(str(file), f"is not UTF-8 text (bad byte at offset {exc.start})") from None
    return config_from_raw(parse_config_text(text, fmt, source=str(file)))


def parse_config_text(text: str, fmt: str, *, source: str = "<config>") -> Any:
    """Parse YAML or TOML ``text`` into plain dicts and lists (no validation).

    Raises:
        ConfigError: a syntax error, located as ``source:line:column``.
    """
    if fmt == "toml":
        try:
            return tomllib.loads(text)
        except ValueError as exc:  # TOMLDecodeError, or an integer of > 4300 digits
            raise _toml_error(exc, source) from None
    if fmt != "yaml":
        raise ValueError(f"unknown config format {fmt!r}; use 'yaml' or 'toml'")
    try:
        return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        what = " ".join(part for part in (exc.context, exc.problem) if part)
        raise _error(where, f"YAML syntax error: {what}") from None
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: 5000 digits, a bad date
        raise _error(source, f"YAML syntax error: {exc}") from None


def config_from_raw(raw: object) -> RuntimeConfig:
    """Validate parsed content (dicts and lists) and build the config.

    Raises:
        ConfigError: listing every problem by key path.
    """
    sections, problems = _convert_config(raw)
    if problems:
        raise ConfigError(problems)
    return RuntimeConfig(**sections)


def canonical_sections(config: RuntimeConfig) -> dict[str, Any]:
    """Validate a config built in Python; return its sections in canonical form.

    Canonical: tuples rather than lists, roles as ``RoleConfig``, normalised URLs.
    ``RuntimeConfig.__post_init__`` calls this, so a config that exists is valid.

    Raises:
        ConfigError: listing every problem by key path.
    """
    try:
        raw = msgspec.to_builtins(config)
    except TypeError as exc:
        raise _error("", f"the config holds a value that is not plain data: {exc}") from None
    sections, problems = _convert_config(raw)
    if problems:
        raise ConfigError(problems)
    return sections


def validate_config(config: RuntimeConfig) -> RuntimeConfig:
    """Check ``config`` again and return it (construction already validates).

    Raises:
        ConfigError: listing every problem by key path.
    """
    canonical_sections(config)
    return config


def _error(path: str, message: str) -> ConfigError:
    return ConfigError([ConfigProblem(path, message)])


def _toml_error(exc: ValueError, source: str) -> ConfigError:
    # Python 3.11's TOMLDecodeError has no line attributes; the message ends with them.
    message = str(exc)
    match = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    if match is None:
        return _error(source, f"TOML syntax error: {message}")
    where = f"{source}:{match.group(1)}:{match.group(2)}"
    return _error(where, f"TOML syntax error: {message[: match.start()]}")


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (PyYAML silently keeps the last one)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue  # keys merged in with << may be overridden on purpose
        key = loader.construct_object(key_node, deep=True)
        try:
            first = seen.setdefault(key, key_node.start_mark.line + 1)
        except TypeError:
            continue  # an unhashable key; construct_mapping reports it
        if first != key_node.start_mark.line + 1:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first defined on line {first})",
                key_node.start_mark,
            )
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _convert_config(raw: object) -> tuple[dict[str, Any], list[ConfigProblem]]:
    """Convert every section of ``raw`` and run the semantic checks; collect all problems."""
    problems = _Problems()
    if raw is None:
        raw = {}  # an empty file: report the missing sections, not a type error
    if not isinstance(raw, dict):
        problems.add(
            "",
            f"the top level must be a mapping of sections (endpoints, models, "
            f"roles, ...), not {_kind(raw)}",
        )
        return {}, problems
    _check_keys(raw, RuntimeConfig, "", problems)
    endpoints = _convert_items(raw.get("endpoints", []), EndpointConfig, "endpoints", problems)
    models = _convert_items(raw.get("models", []), ModelConfig, "models", problems)
    # Roles convert one by one and keep the good ones, so their references are checked.
    roles = _convert_mapping(raw.get("roles", {}), RoleConfig, "roles", problems, partial=True)
    sections: dict[str, Any] = {}
    for name in ("event_log", "health", "retry", "quota", "performance", "shutdown"):
        if name in raw:
            field_type = _field_types(RuntimeConfig)[name]
            sections[name] = _convert(raw[name], field_type, name, problems)
    parts = ConfigParts(
        endpoints=endpoints,
        models=models,
        roles=roles if roles is not _INVALID else None,
        endpoint_names=_names(raw.get("endpoints"), ("name",)),
        model_names=_names(raw.get("models"), ("name", "alias")),
        role_names=frozenset(raw["roles"]) if isinstance(raw.get("roles"), dict) else frozenset(),
        invalid_paths=frozenset(problem.path for problem in problems),
        **{name: (None if value is _INVALID else value) for name, value in sections.items()},
    )
    problems.extend(p for p in check_parts(parts) if p.path not in parts.invalid_paths)
    sections["endpoints"] = tuple(
        msgspec.structs.replace(endpoint, url=normalize_url(endpoint.url))
        for _, endpoint in endpoints
    )
    sections["models"] = tuple(model for _, model in models)
    sections["roles"] = roles
    return sections, problems


def _convert_items(
    raw: object, item_type: type[Any], path: str, problems: _Problems
) -> tuple[tuple[int, Any], ...]:
    """Convert each list item on its own; keep (index, item) for those that converted."""
    if not isinstance(raw, list | tuple):
        problems.add(path, f"must be a list (an array of tables in TOML), not {_kind(raw)}")
        return ()
    converted = (
        (i, _convert(item, item_type, key_path(path, i), problems)) for i, item in enumerate(raw)
    )
    return tuple((i, item) for i, item in converted if item is not _INVALID)


def _names(raw: object, keys: tuple[str, ...]) -> frozenset[str]:
    """Every string under ``keys`` in a raw list of mappings, converted or not."""
    items = raw if isinstance(raw, list | tuple) else ()
    return frozenset(
        item[key]
        for item in items
        if isinstance(item, dict)
        for key in keys
        if isinstance(item.get(key), str)
    )


def _convert(value: object, field_type: Any, path: str, problems: _Problems) -> Any:
    """Convert ``value`` to ``field_type``, recording problems; ``_INVALID`` on failure."""
    if isinstance(field_type, type) and issubclass(field_type, msgspec.Struct):
        return _convert_struct(value, field_type, path, problems)
    origin, args = get_origin(field_type), get_args(field_type)
    if origin is dict:
        return _convert_mapping(value, args[1], path, problems)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        if not isinstance(value, list | tuple):
            problems.add(path, f"must be a list, not {_kind(value)}")
            return _INVALID
        items = [_convert(v, args[0], key_path(path, i), problems) for i, v in enumerate(value)]
        return _INVALID if _INVALID in items else tuple(items)
    if origin is Literal and value not in args:
        choices = ", ".join(repr(arg) for arg in args)
        problems.add(path, f"{value!r} is not one of {choices}")
        return _INVALID
    try:
        return msgspec.convert(value, field_type)
    except msgspec.ValidationError as exc:
        problems.append(_from_validation_error(exc, path))
        return _INVALID


def _convert_mapping(
    value: object, value_type: Any, path: str, problems: _Problems, *, partial: bool = False
) -> Any:
    if not isinstance(value, dict):
        problems.add(path, f"must be a mapping (a table in TOML), not {_kind(value)}")
        return _INVALID
    result: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            problems.add(path, f"key {key!r} must be a string; quote it")
            continue
        converted = _convert(item, value_type, key_path(path, key), problems)
        if converted is not _INVALID:
            result[key] = converted
    return result if partial or len(result) == len(value) else _INVALID


def _convert_struct(value: object, cls: type[Any], path: str, problems: _Problems) -> Any:
    """Convert a mapping field by field; defaults stand in for fields that failed."""
    if cls is RoleConfig and isinstance(value, list | tuple):
        value = {"models": value}  # the short form: a role is its model chain
    if not isinstance(value, dict):
        problems.add(path, f"must be a mapping (a table in TOML), not {_kind(value)}")
        return _INVALID
    _check_keys(value, cls, path, problems)
    kwargs: dict[str, Any] = {}
    complete = True
    for field in msgspec.structs.fields(cls):
        required = field.required
        if field.name not in value:
            complete = complete and not required
            continue
        converted = _convert(value[field.name], field.type, key_path(path, field.name), problems)
        if converted is _INVALID:
            complete = complete and not required
        else:
            kwargs[field.name] = converted
    return cls(**kwargs) if complete else _INVALID


def _check_keys(value: dict[Any, Any], cls: type[Any], path: str, problems: _Problems) -> None:
    """Report unknown keys (with a suggestion) and missing required keys."""
    fields = msgspec.structs.fields(cls)
    valid = [field.name for field in fields]
    for key in value:
        if not isinstance(key, str):
            problems.add(path or "<top level>", f"key {key!r} must be a string; quote it")
        elif key.lower() in _SECRET_KEYS:
            problems.add(
                key_path(path, key),
                "literal API keys are not allowed in the config; "
                "put the key in an environment variable and name it in api_key_env "
                "(e.g. api_key_env: OPENAI_API_KEY)",
            )
        elif key not in valid:
            close = difflib.get_close_matches(key, valid, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            problems.add(key_path(path, key), f"unknown key; {hint}valid keys: {', '.join(valid)}")
    for field in fields:
        if field.required and field.name not in value:
            problems.add(key_path(path, field.name), "required key is missing")


def _field_types(cls: type[Any]) -> dict[str, Any]:
    return {field.name: field.type for field in msgspec.structs.fields(cls)}


def _from_validation_error(exc: msgspec.ValidationError, path: str) -> ConfigProblem:
    """Map msgspec's ``... - at `$.a[0]``` onto our key path."""
    # "Expected `int`, got `str`" reads better as "expected int, got str".
    message = str(exc).replace("`", "")
    message = message[:1].lower() + message[1:]
    match = re.search(r" - at (\S*?)(?: in (\S*?))?$", message)
    if match is None:
        return ConfigProblem(path, message)
    message = message[: match.start()]
    where = match.group(2) or match.group(1)
    if match.group(2):
        message += " (in a mapping key)"
    suffix = where[1:] if where.startswith("$") else where
    full = f"{path}{suffix}" if path else suffix.lstrip(".")
    return ConfigProblem(full, message)


def _kind(value: object) -> str:
    names = {
        dict: "a mapping",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        type(None): "null",
    }
    return names.get(type(value), type(value).__name__)
