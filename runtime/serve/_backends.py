"""``/api/version``, ``/api/ps`` and ``/api/show``: asking the Ollama backends directly.

Only endpoints of the config with ``api: ollama`` are asked, at the URL the config
gives (never one from a request), with a short bounded timeout; a backend that fails
or is slow is left out. No API key is sent (these routes carry no prompt).

- ``/api/version``: the highest version among the backends that answer, else
  ``FALLBACK_VERSION`` (the Ollama API level this facade speaks).
- ``/api/ps``: the union of the backends' loaded models, as they name them.
- ``/api/show``: the name is resolved like a chat's ``model`` (a role: its chain's
  models in order); the first Ollama deployment that answers ``/api/show`` for the
  backend's model name gives the body; if none does, a minimal body is made up
  (``capabilities: ["completion", "tools"]``).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import Any, Final

import httpx
import msgspec

from events import get_logger
from runtime._config import EndpointConfig, RuntimeConfig
from runtime._listing import ListedModel
from runtime._urls import api_base
from runtime.serve._errors import HttpError

__all__ = ["FALLBACK_VERSION", "OllamaBackends"]

log = get_logger(__name__)

FALLBACK_VERSION: Final = "0.12.0"
"""``/api/version`` when no Ollama backend tells its own: the Ollama API level this
facade speaks (tools, ``format`` schemas, ``think``, ``/api/embed``)."""
TIMEOUT_S: Final = 3.0
"""Seconds one backend may take to answer (connect included)."""
_DECODER: Final = msgspec.json.Decoder()


class OllamaBackends:
    """The config's Ollama endpoints, asked over one httpx client per TLS setting."""

    def __init__(self, config: RuntimeConfig) -> None:
        self._config = config
        self._endpoints = {e.name: e for e in config.endpoints if e.api == "ollama"}
        self._clients: dict[bool, httpx.AsyncClient] = {}

    async def aclose(self) -> None:
        """Close the clients (the app's lifespan ends)."""
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

    def _client(self, endpoint: EndpointConfig) -> httpx.AsyncClient:
        client = self._clients.get(endpoint.verify_tls)
        if client is None:
            client = httpx.AsyncClient(
                timeout=httpx.Timeout(TIMEOUT_S),
                verify=endpoint.verify_tls,
                follow_redirects=False,
                trust_env=False,
            )
            self._clients[endpoint.verify_tls] = client
        return client

    async def _ask(
        self, endpoint: EndpointConfig, path: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """The JSON object ``endpoint`` answers on ``path``; None on any failure."""
        client = self._client(endpoint)
        try:
            async with asyncio.timeout(TIMEOUT_S):
                if body is None:
                    response = await client.get(api_base(endpoint.url) + path)
                else:
                    response = await client.post(api_base(endpoint.url) + path, json=body)
            value = _DECODER.decode(response.content) if response.status_code == 200 else None
        except (httpx.HTTPError, TimeoutError, msgspec.DecodeError) as exc:
            log.info("serve.backend.unanswered", endpoint=endpoint.name, path=path, error=repr(exc))
            return None
        return value if isinstance(value, dict) else None

    async def _ask_all(self, path: str) -> list[dict[str, Any] | None]:
        return list(await asyncio.gather(*(self._ask(e, path) for e in self._endpoints.values())))

    async def version(self) -> dict[str, str]:
        """``{"version": ...}``: the highest any backend reports, else ours."""
        found = [a.get("version") for a in await self._ask_all("/api/version") if a]
        versions = [v for v in found if isinstance(v, str) and v]
        return {"version": max(versions, key=_version_key) if versions else FALLBACK_VERSION}

    async def ps(self) -> dict[str, list[Any]]:
        """``{"models": [...]}``: every answering backend's loaded models."""
        models: list[Any] = []
        for answer in await self._ask_all("/api/ps"):
            listed = answer.get("models") if answer else None
            if isinstance(listed, list):
                models.extend(m for m in listed if isinstance(m, dict))
        return {"models": models}

    async def show(
        self, name: str, listing: Sequence[ListedModel], *, verbose: bool = False
    ) -> dict[str, Any]:
        """The ``/api/show`` body for ``name`` (see the module docstring); ``verbose``
        is passed on (Ollama then includes the full tokenizer data).

        Raises:
            HttpError: 404 when ``name`` is not listed.
        """
        asked: dict[str, Any] = {"verbose": True} if verbose else {}
        for model, endpoint in self._candidates(name, listing):
            answer = await self._ask(endpoint, "/api/show", {"model": model, **asked})
            if answer is not None:
                return answer
        return _made_up()

    def _candidates(
        self, name: str, listing: Sequence[ListedModel]
    ) -> list[tuple[str, EndpointConfig]]:
        """``(backend model name, Ollama endpoint)`` of each deployment that may answer."""
        entries = [m for m in listing if m.name == name]
        if not entries:
            raise HttpError(
                404,
                f"model {name!r} not found (GET /api/tags lists the names)",
                code="model_not_found",
                param="model",
            )
        entry = next((m for m in entries if m.type == "role"), entries[0])
        config = self._config
        if entry.type == "role":
            chain = [config.model(m) for m in config.role_chain(name)]
            pairs = [(m.name, d) for m in chain for d in m.deployments]
        else:
            known = next((m for m in config.models if name in (m.name, m.alias)), None)
            pairs = (
                [(known.name, d) for d in known.deployments]
                if known is not None
                else [(name, d) for d in entry.endpoints]
            )
        return [(model, self._endpoints[d]) for model, d in pairs if d in self._endpoints]


def _version_key(version: str) -> tuple[int, ...]:
    """``"0.12.3-rc1"`` -> ``(0, 12, 3)``: the numeric release, for comparing."""
    release = re.match(r"v?(\d+(?:\.\d+)*)", version)
    return tuple(int(n) for n in release.group(1).split(".")) if release else ()


def _made_up() -> dict[str, Any]:
    """A minimal valid ``/api/show`` body for a model no Ollama backend described."""
    return {
        "modelfile": "",
        "parameters": "",
        "template": "",
        "details": {
            "parent_model": "",
            "format": "",
            "family": "",
            "families": [],
            "parameter_size": "",
            "quantization_level": "",
        },
        "model_info": {},
        "capabilities": ["completion", "tools"],
    }
