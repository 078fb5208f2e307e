"""``/api/show``, ``/api/version``, ``/api/ps`` and the model lists as one union of
``rt.list_models()``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import msgspec
import ollama
import openai
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from runtime import ListedModel, Runtime
from runtime.serve._backends import FALLBACK_VERSION, _version_key
from runtime.serve._server import AppServer
from runtime.testing import ChaosServer
from tests.runtime.serve._support import AUTH, KEY, Facade, facade, facade_config, serving

Servers = tuple[ChaosServer, ChaosServer]
NEWER = "0.13.2"


def client(served: Facade) -> ollama.AsyncClient:
    return ollama.AsyncClient(host=served.url, headers=AUTH)


@contextlib.asynccontextmanager
async def newer_ollama() -> AsyncIterator[str]:
    """A stand-in Ollama that only answers /api/version (newer) and /api/ps."""

    async def version(request: Request) -> JSONResponse:
        return JSONResponse({"version": NEWER})

    async def ps(request: Request) -> JSONResponse:
        return JSONResponse({"models": [{"name": "phi4:latest", "model": "phi4:latest"}]})

    app = Starlette(routes=[Route("/api/version", version), Route("/api/ps", ps)])
    server = AppServer(app, host="127.0.0.1", port=0)
    url = await server.start()
    try:
        yield url
    finally:
        await server.stop()


async def test_show_proxies_the_ollama_backend_of_a_role(served: Facade) -> None:
    shown = await client(served).show("gen")
    assert shown.capabilities == ["completion", "tools"]
    assert shown.details is not None and shown.details.family
    assert shown.modelinfo and any(k.endswith("context_length") for k in shown.modelinfo)
    [asked] = served.a.received(route="/api/show")
    assert asked == {"model": "llama3"}  # the backend's own model name


async def test_show_by_alias_asks_for_the_model(served: Facade) -> None:
    await client(served).show("small")
    assert served.b.received(route="/api/show") == [{"model": "qwen"}]


async def test_show_falls_back_to_the_next_deployment_then_a_made_up_body(
    served: Facade,
) -> None:
    await served.a.stop_listening()
    by_b = await client(served).show("llama3")
    await served.b.stop_listening()
    made_up = await client(served).show("llama3")
    assert by_b.modelinfo and served.b.received(route="/api/show") == [{"model": "llama3"}]
    assert made_up.capabilities == ["completion", "tools"] and not made_up.modelinfo
    assert made_up.details is not None


async def test_show_on_openai_backends_is_made_up(tmp_path: Path, servers: Servers) -> None:
    async with facade(tmp_path, servers, api="openai") as served:
        shown = await client(served).show("coder")
        asked = served.b.received(route="/api/show")
    assert shown.capabilities == ["completion", "tools"] and asked == []


async def test_show_of_an_unknown_model_is_404(served: Facade) -> None:
    with pytest.raises(ollama.ResponseError) as caught:
        await client(served).show("mistral")
    assert caught.value.status_code == 404 and "'mistral' not found" in caught.value.error


async def test_version_is_the_backends_or_ours(served: Facade) -> None:
    async with served.client() as http:
        answered = (await http.get("/api/version")).json()
        await served.a.stop_listening()
        await served.b.stop_listening()
        nobody = (await http.get("/api/version")).json()
    assert answered == {"version": "0.12.0"} and nobody == {"version": FALLBACK_VERSION}


async def test_version_is_the_highest_and_ps_the_union(tmp_path: Path, servers: Servers) -> None:
    a, b = servers
    async with newer_ollama() as url:
        cfg = facade_config(tmp_path, a, b)
        endpoints = (cfg.endpoints[0], msgspec.structs.replace(cfg.endpoints[1], url=url))
        cfg = msgspec.structs.replace(cfg, endpoints=endpoints)
        async with Runtime.from_config(cfg) as rt, serving(rt) as served_url:
            running = await ollama.AsyncClient(host=served_url, headers=AUTH).ps()
            async with httpx.AsyncClient(base_url=served_url, headers=AUTH) as http:
                version = (await http.get("/api/version")).json()
    assert version == {"version": NEWER}
    assert [m.model for m in running.models] == ["llama3:latest", "qwen:latest", "phi4:latest"]


async def test_an_ollama_url_written_with_v1_is_asked_at_its_root(
    tmp_path: Path, servers: Servers
) -> None:
    a, b = servers
    cfg = facade_config(tmp_path, a, b)
    endpoints = tuple(msgspec.structs.replace(e, url=f"{e.url}/v1") for e in cfg.endpoints)
    async with (
        Runtime.from_config(msgspec.structs.replace(cfg, endpoints=endpoints)) as rt,
        serving(rt) as served_url,
    ):
        running = await ollama.AsyncClient(host=served_url, headers=AUTH).ps()
        shown = await ollama.AsyncClient(host=served_url, headers=AUTH).show("gen")
    assert [m.model for m in running.models] == ["llama3:latest", "qwen:latest"] * 2
    assert shown.capabilities and "completion" in shown.capabilities
    assert a.requests_for(route="/api/show") == 1  # proxied, not made up


async def test_ps_leaves_out_a_backend_that_fails(served: Facade) -> None:
    everything = await client(served).ps()
    await served.a.stop_listening()
    without_a = await client(served).ps()
    names = ["llama3:latest", "qwen:latest"]  # as the backends name them
    assert [m.model for m in everything.models] == names * 2
    assert [m.model for m in without_a.models] == names
    assert all(m.size_vram and m.expires_at for m in everything.models)


def test_versions_compare_by_release_numbers() -> None:
    assert _version_key("0.12.10") > _version_key("0.12.9") > _version_key("0.9.99")
    assert _version_key("v0.13.0-rc1") == (0, 13, 0) and _version_key("dev") == ()


async def test_model_lists_are_rt_list_models(
    served: Facade, monkeypatch: pytest.MonkeyPatch
) -> None:
    listed = (
        *served.rt.list_models(),
        ListedModel(name="phi4:latest", type="discovered", endpoints=("a",)),
    )
    monkeypatch.setattr(served.rt, "list_models", lambda: listed)
    models = await openai.AsyncOpenAI(base_url=f"{served.url}/v1", api_key=KEY).models.list()
    tags = await client(served).list()
    shown = await client(served).show("phi4:latest")
    names = ["gen", "coder", "llama3", "qwen", "small", "phi4:latest"]
    assert [m.id for m in models.data] == names and [m.model for m in tags.models] == names
    assert served.a.received(route="/api/show") == [{"model": "phi4:latest"}]
    assert shown.capabilities == ["completion", "tools"]  # a's 404: made up


async def test_show_passes_verbose_on(served: Facade) -> None:
    async with served.client() as http:
        response = await http.post("/api/show", json={"name": "coder", "verbose": True})
    assert response.status_code == 200 and response.json()["capabilities"]
    assert served.b.received(route="/api/show") == [{"model": "qwen", "verbose": True}]
