"""Every name a call may route to: roles, configured models and aliases, and the
models endpoints with ``models: auto`` (or patterns) discover (pure).

``Runtime.list_models()`` serves it; ``serve`` answers ``/v1/models`` and ``/api/tags``
from it and resolves a request's ``model`` field against it.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from actors.catalog import CatalogState, discovered_models, match_key
from runtime._config import RuntimeConfig

__all__ = ["ListedModel", "configured_listing", "listing"]


class ListedModel(msgspec.Struct, frozen=True, kw_only=True):
    """One name a call may use as ``role=`` or ``model=``."""

    name: str
    type: Literal["role", "model", "alias", "discovered"]
    """``role``: pass it as ``role=``; the others as ``model=``. ``discovered``: a model
    an endpoint with ``models: auto`` (or patterns) serves, found in its model list."""
    endpoints: tuple[str, ...] = ()
    """The endpoints serving it (for a role: those of its chain's models)."""


def configured_listing(config: RuntimeConfig) -> tuple[ListedModel, ...]:
    """Roles, then configured models, then aliases, in config order."""
    deployments = {m.name: m.deployments for m in config.models}
    listed = [
        ListedModel(
            name=name,
            type="role",
            endpoints=tuple(
                dict.fromkeys(e for m in config.role_chain(name) for e in deployments[m])
            ),
        )
        for name in config.roles
    ]
    listed.extend(
        ListedModel(name=m.name, type="model", endpoints=m.deployments) for m in config.models
    )
    listed.extend(
        ListedModel(name=m.alias, type="alias", endpoints=m.deployments)
        for m in config.models
        if m.alias is not None
    )
    return tuple(listed)


def listing(config: RuntimeConfig, catalog: CatalogState) -> tuple[ListedModel, ...]:
    """``configured_listing``, then the discovered models by name (a name already
    listed, e.g. a configured model of that name, is not repeated: configured wins;
    names compare as the catalog does, ``llama3`` is ``llama3:latest``).

    Only endpoints that discover models now count (a rule removed from the config
    stops its models from being listed even before the catalog caught up).
    """
    listed = configured_listing(config)
    taken = {match_key(entry.name) for entry in listed}  # "llama3" is "llama3:latest"
    discovering = tuple(e.name for e in config.endpoints if e.models is not None)
    if not discovering:
        return listed
    found = [
        ListedModel(name=name, type="discovered", endpoints=kept)
        for name, endpoints in discovered_models(catalog, discovering).items()
        if match_key(name) not in taken
        and (kept := tuple(e for e in endpoints if e in discovering))
    ]
    return (*listed, *found)
