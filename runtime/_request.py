"""Turning a ``chat``/``stream`` call into a ``RouteRequest``, with its checks.

Everything here is precomputed per config (``Resolver``) so the per-call cost is a few
dict lookups: the role's chain, the model's canonical name and its endpoints. Model
validation against the catalog is cached (no I/O while the lists are known).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from typing import Any

from actors.catalog import ensure_served
from actors.endpoint import Message
from actors.performance import DEFAULT_KIND, GetPerformanceView, KindFold
from actors.router import Refs, RouteRequest
from events import split_deployment
from runtime._config import RuntimeConfig
from runtime._errors import InvalidRequest, ModelNotFoundError

__all__ = ["MessagesLike", "Resolver"]

MessagesLike = Iterable[Message | Mapping[str, Any]]
"""``[{"role": "user", "content": "hi"}]`` or ``Message`` objects."""


class Resolver:
    """Resolves roles and models of one config; see the module docstring."""

    def __init__(self, config: RuntimeConfig) -> None:
        self._roles = {
            name: (config.role_chain(name), config.role_kind(name)) for name in config.roles
        }
        self._models: dict[str, tuple[str, dict[str, str]]] = {}
        for model in config.models:
            endpoints = {e: config.endpoint(e).url for e in model.deployments}
            for key in (model.name, model.alias):
                if key is not None:
                    self._models[key] = (model.name, endpoints)
        self._names = tuple(m.name for m in config.models)
        self._urls = {e.name: e.url for e in config.endpoints}
        self._kinds = KindFold([DEFAULT_KIND, *(kind for _, kind in self._roles.values())])

    def model(self, name: str) -> tuple[str, dict[str, str]]:
        """The configured model ``name`` refers to (name or alias) and its endpoints.

        Raises:
            ModelNotFoundError: No configured model has that name or alias.
        """
        found = self._models.get(name)
        if found is None:
            raise ModelNotFoundError(name, self._urls, self._names)
        return found

    def targets(self, deployments: tuple[str, ...], target: str) -> tuple[str, ...]:
        """The deployments ``reset_health(target)`` means: one deployment, a model's
        (name or alias), or every one on an endpoint.

        Raises:
            InvalidRequest: ``target`` names no model, deployment or endpoint.
        """
        if target in deployments:
            return (target,)
        with contextlib.suppress(ModelNotFoundError):
            name, _ = self.model(target)
            return tuple(d for d in deployments if split_deployment(d)[0] == name)
        on_endpoint = tuple(d for d in deployments if split_deployment(d)[1] == target)
        if on_endpoint:
            return on_endpoint
        raise InvalidRequest(
            f"reset_health({target!r}): not a model, deployment or endpoint; models: "
            f"{', '.join(self._names)}; endpoints: {', '.join(self._urls)}; deployments "
            "look like 'model@endpoint'"
        )

    async def request(
        self,
        refs: Refs,
        messages: MessagesLike,
        *,
        role: str | None,
        model: str | None,
        kind: str | None,
        max_tokens: int | None,
        temperature: float | None,
    ) -> RouteRequest:
        """Check the call and build the router's request.

        The request's ``kind`` is folded here (``actors.performance.KindFold``:
        configured kinds kept, at most ``MAX_OTHER_KINDS`` others, the rest ``other``),
        before anything is recorded: the logged ``RequestStarted.kind`` is the folded
        one, so a replay files samples exactly as the live process did.

        Raises:
            InvalidRequest: Neither or both of role and model, an unknown role, bad
                messages or limits.
            ModelNotFoundError: ``model`` is not configured, or none of its endpoints
                serves it (after refreshing lists that were due).
        """
        checked = _messages(messages)
        _limits(max_tokens, temperature)
        if (role is None) == (model is None):
            raise InvalidRequest("pass exactly one of role= or model= to chat()/stream()")
        if role is not None:
            found = self._roles.get(role)
            if found is None:
                known = ", ".join(sorted(self._roles)) or "none (add a roles: section)"
                raise InvalidRequest(f"unknown role {role!r}; configured roles: {known}")
            chain, role_kind = found
            kind = kind if kind is not None else role_kind
        else:
            assert model is not None
            name, endpoints = self.model(model)
            await ensure_served(refs.catalog, name, endpoints)
            chain = (name,)
        if kind is not None:
            if not self._kinds.seeded:  # once: the kinds the replayed windows hold
                self._kinds.seed((await refs.performance.ask(GetPerformanceView())).started)
            kind = self._kinds.fold(kind)
        return RouteRequest(
            chain=chain,
            messages=checked,
            role=role,
            model=model,
            kind=kind,
            max_tokens=max_tokens,
            temperature=temperature,
        )


def _messages(messages: MessagesLike) -> tuple[Message, ...]:
    if isinstance(messages, str | bytes):
        raise InvalidRequest(
            "messages must be a list of {'role': ..., 'content': ...}, not a string; "
            "wrap it: [{'role': 'user', 'content': text}]"
        )
    checked: list[Message] = []
    for index, item in enumerate(messages):
        if isinstance(item, Message):
            checked.append(item)
            continue
        role = item.get("role") if isinstance(item, Mapping) else None
        content = item.get("content") if isinstance(item, Mapping) else None
        if not isinstance(role, str) or not isinstance(content, str):
            raise InvalidRequest(
                f"messages[{index}] must have string 'role' and 'content', got {item!r:.80}"
            )
        checked.append(Message(role=role, content=content))
    if not checked:
        raise InvalidRequest("messages is empty; send at least one message")
    return tuple(checked)


def _limits(max_tokens: int | None, temperature: float | None) -> None:
    if max_tokens is not None and (isinstance(max_tokens, bool) or max_tokens < 1):
        raise InvalidRequest(f"max_tokens must be an integer >= 1, got {max_tokens!r}")
    if temperature is not None and not 0 <= temperature <= 100:
        raise InvalidRequest(f"temperature must be a number >= 0, got {temperature!r}")
