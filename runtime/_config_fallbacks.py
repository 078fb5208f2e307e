"""Checks of the model-choice keys: ``models[].fallbacks`` and
``health.fallback_after_failures`` (the alias of ``failure_threshold``).

Kept apart from ``_config_check`` (which calls ``model_choice_problems``) so that module
stays small. Like every check, it returns problems and never raises.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runtime._config_rules import COUNT, shown_number
from runtime._errors import ConfigProblem

if TYPE_CHECKING:
    from runtime._config_check import ConfigParts

__all__ = ["model_choice_problems"]


def model_choice_problems(parts: ConfigParts) -> list[ConfigProblem]:
    """Problems of the fallback lists and of the failure-threshold alias."""
    from runtime._config_check import key_path  # the checks module imports this one

    problems: list[ConfigProblem] = []
    canonical = {m.name: m.name for _, m in parts.models}
    canonical.update({m.alias: m.name for _, m in parts.models if m.alias is not None})
    known = ", ".join(sorted(parts.model_names)) or "none configured"
    for index, model in parts.models:
        path = key_path(key_path("models", index), "fallbacks")
        seen: dict[str, str] = {}
        for position, name in enumerate(model.fallbacks):
            item = key_path(path, position)
            target = canonical.get(name)
            if name not in parts.model_names:
                problems.append(
                    ConfigProblem(
                        item,
                        f"unknown model {name!r}; a fallback must be a configured model "
                        f"name or alias: {known}",
                    )
                )
            elif target == model.name:
                problems.append(ConfigProblem(item, f"{name!r} is this model itself"))
            elif target is not None and target in seen:
                problems.append(
                    ConfigProblem(item, f"duplicate fallback {name!r}; already at {seen[target]}")
                )
            if target is not None:
                seen.setdefault(target, item)
    health = parts.health
    alias = None if health is None else health.fallback_after_failures
    if health is not None and alias is not None:
        path = "health.fallback_after_failures"
        if not COUNT.contains(alias):
            problems.append(
                ConfigProblem(path, f"{shown_number(alias)} is out of range; must be {COUNT}")
            )
        elif health.failure_threshold != alias:
            problems.append(
                ConfigProblem(
                    path,
                    f"{alias} differs from failure_threshold {health.failure_threshold}; "
                    "it is another name for it: set only one",
                )
            )
    return problems
