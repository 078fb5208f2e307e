"""Turning a ``chat``/``stream`` call into a ``RouteRequest``, with its checks.

Everything here is precomputed per config (``Resolver``) so the per-call cost is a few
dict lookups: the role's chain, the model's canonical name and its endpoints. Model
validation against the catalog is cached (no I/O while the lists are known).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

from actors.catalog import GetCatalog, available, ensure_served, find_discovered, match_key
from actors.endpoint import (
    ChatRequest,
    Message,
    Parameters,
    UnsupportedParameter,
    check_chat_request,
)
from actors.performance import DEFAULT_KIND, GetPerformanceView, KindFold
from actors.router import Refs, RouteRequest
from events import split_deployment
from runtime._config import ModelConfig, RuntimeConfig
from runtime._errors import InvalidRequest, ModelNotFoundError
from runtime._messages import MessagesLike, parse_messages
from runtime._params import parameters

__all__ = ["MessagesLike", "Resolver", "model_defaults"]


def model_defaults(model: ModelConfig) -> Parameters:
    """A configured model's parameters, under whatever a call sets."""
    return Parameters(
        max_tokens=model.max_tokens, temperature=model.temperature, options=dict(model.options)
    )


class Resolver:
    """Resolves roles and models of one config; see the module docstring."""

    def __init__(self, config: RuntimeConfig) -> None:
        self._roles = {
            name: (config.role_chain(name), config.role_kind(name)) for name in config.roles
        }
        self._ranked_roles = frozenset(
            name for name, role in config.roles.items() if role.strategy == "performance"
        )
        self._chains = {m.name: config.model_chain(m.name) for m in config.models}
        self._models: dict[str, tuple[str, dict[str, str]]] = {}
        for model in config.models:
            endpoints = {e: config.endpoint(e).url for e in model.deployments}
            for key in (model.name, model.alias):
                if key is not None:
                    self._models[key] = (model.name, endpoints)
        self._names = tuple(m.name for m in config.models)
        self._known = tuple(self._models)  # names and aliases, for ModelNotFoundError
        self._discovers = any(e.models is not None for e in config.endpoints)
        self._keys = {match_key(k): found for k, found in self._models.items()}
        apis = self._endpoint_apis = {e.name: e.api for e in config.endpoints}
        self._apis = {m.name: tuple((e, apis[e]) for e in m.deployments) for m in config.models}
        self._defaults = {m.name: model_defaults(m) for m in config.models}
        self._urls = {e.name: e.url for e in config.endpoints}
        self._kinds = KindFold([DEFAULT_KIND, *(kind for _, kind in self._roles.values())])

    def model(self, name: str) -> tuple[str, dict[str, str]]:
        """The configured model ``name`` refers to (name or alias) and its endpoints
        (``served_model`` also finds discovered ones).

        Raises:
            ModelNotFoundError: No configured model has that name or alias.
        """
        found = self._models.get(name)
        if found is None:
            raise ModelNotFoundError(name, self._urls, (), self._known)
        return found

    async def served_model(self, refs: Refs, name: str) -> tuple[str, dict[str, str]]:
        """The model ``name`` refers to and its endpoints (name -> URL): a configured
        model (name or alias) first, else a model an endpoint discovers (``models:
        auto`` or patterns), named as the first endpoint discovering it lists it. With
        discovery on, ``llama3:latest`` also finds a configured ``llama3`` (configured
        wins over discovered, names compared as the catalog does).

        Raises:
            ModelNotFoundError: Neither; it lists what the backends serve (their cached
                lists) and the configured names, and the closest of them.
        """
        found = self._models.get(name)
        if found is not None:
            return found
        if self._discovers:
            found = self._keys.get(match_key(name))  # "llama3:latest" is "llama3"
            if found is not None:
                return found
            hit = await find_discovered(refs.catalog, name)
            if hit is not None:
                served, endpoints = hit
                apis = self._endpoint_apis
                self._apis[served] = tuple((e, apis[e]) for e in endpoints)
                self._defaults.setdefault(served, _PLAIN)
                return served, {e: self._urls[e] for e in endpoints}
        state = await refs.catalog.ask(GetCatalog(), timeout=None)
        raise ModelNotFoundError(name, self._urls, available(state), self._known)

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
        discovered = tuple(d for d in deployments if split_deployment(d)[0] == target)
        if discovered:  # a model an endpoint discovers (models: auto), once it was used
            return discovered
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
        params: Mapping[str, Any],
    ) -> RouteRequest:
        """Check the call and build the router's request.

        The request's ``kind`` is folded here (``actors.performance.KindFold``:
        configured kinds kept, at most ``MAX_OTHER_KINDS`` others, the rest ``other``),
        before anything is recorded: the logged ``RequestStarted.kind`` is the folded
        one, so a replay files samples exactly as the live process did.

        Raises:
            InvalidRequest: Neither or both of role and model, an unknown role, bad
                messages or parameters.
            UnsupportedParameter: A deployment the call may reach cannot carry one of
                its parameters (nothing was sent).
            ModelNotFoundError: ``model`` is not configured, or none of its endpoints
                serves it (after refreshing lists that were due).
        """
        checked = parse_messages(messages)
        wanted = parameters(params)
        chain, kind = await self._chain(refs, role, model, kind)
        if wanted != _PLAIN or any(_agentic(m) for m in checked):
            self._check_carried(chain, checked, wanted)
        return RouteRequest(
            chain=chain, messages=checked, role=role, model=model, kind=kind, params=wanted,
            rank_models=role in self._ranked_roles,
        )  # fmt: skip

    async def embed_request(
        self,
        refs: Refs,
        inputs: str | Sequence[str],
        *,
        role: str | None,
        model: str | None,
        kind: str | None,
        dimensions: int | None,
        options: Mapping[str, Any] | None,
    ) -> RouteRequest:
        """Check an ``embed`` call and build the router's request (see ``request``)."""
        texts = (inputs,) if isinstance(inputs, str) else inputs
        if (
            not isinstance(texts, Sequence)
            or not texts
            or not all(isinstance(t, str) for t in texts)
        ):
            raise InvalidRequest("inputs must be a string or a non-empty list of strings to embed")
        if dimensions is not None and (isinstance(dimensions, bool) or dimensions < 1):
            raise InvalidRequest(f"dimensions must be an integer >= 1, got {dimensions!r}")
        wanted = parameters({"options": options})
        chain, kind = await self._chain(refs, role, model, kind)
        return RouteRequest(
            chain=chain, inputs=tuple(texts), role=role, model=model, kind=kind,
            params=wanted, dimensions=dimensions, rank_models=role in self._ranked_roles,
        )  # fmt: skip

    async def _chain(
        self, refs: Refs, role: str | None, model: str | None, kind: str | None
    ) -> tuple[tuple[str, ...], str | None]:
        """The chain of models a call routes over, and its folded kind."""
        if (role is None) == (model is None):
            raise InvalidRequest("pass exactly one of role= or model=")
        if role is not None:
            found = self._roles.get(role)
            if found is None:
                known = ", ".join(sorted(self._roles)) or "none (add a roles: section)"
                raise InvalidRequest(f"unknown role {role!r}; configured roles: {known}")
            chain, role_kind = found
            kind = kind if kind is not None else role_kind
        else:
            assert model is not None
            # A configured model without a coroutine (the common case); else look further.
            name, endpoints = self._models.get(model) or await self.served_model(refs, model)
            chain = self._chains.get(name, (name,))  # the model, then its fallbacks
            try:
                await ensure_served(refs.catalog, name, endpoints)
            except ModelNotFoundError as exc:  # say what else there is to ask for
                if len(chain) == 1:  # with fallbacks, planning skips it (unknown_model)
                    raise ModelNotFoundError(name, endpoints, exc.available, self._known) from None
        if kind is not None:
            if not self._kinds.seeded:  # once: the kinds the replayed windows hold
                self._kinds.seed((await refs.performance.ask(GetPerformanceView())).started)
            kind = self._kinds.fold(kind)
        return chain, kind

    def _check_carried(
        self, chain: tuple[str, ...], messages: tuple[Message, ...], params: Parameters
    ) -> None:
        """Refuse, before anything is sent, a call that a deployment of its chain could
        not carry whole: a parameter is never dropped on the way to a backend."""
        for name in dict.fromkeys(chain):
            merged = params.over(self._defaults[name])
            request = ChatRequest(model=name, messages=messages, params=merged)
            for endpoint, api in self._apis[name]:
                try:
                    check_chat_request(api, request)
                except UnsupportedParameter as exc:
                    raise exc.at(endpoint, name) from None


_PLAIN = Parameters()


def _agentic(message: Message) -> bool:
    """Whether a message carries more than text (parts, tool calls, a tool answer)."""
    return (
        not isinstance(message.content, str)
        or bool(message.tool_calls)
        or message.tool_call_id is not None
        or message.name is not None
    )
