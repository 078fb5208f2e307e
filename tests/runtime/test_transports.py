"""The endpoint's ``transport`` setting picks the HTTP client its calls go through."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from actors.endpoint._aiohttp import AiohttpTransport
from runtime import Runtime
from runtime._config_load import config_from_raw, load_config
from runtime._errors import ConfigError
from runtime._transports import endpoint_transports
from runtime.testing import ChaosServer


def _raw(**endpoint: Any) -> dict[str, Any]:
    return {
        "endpoints": [{"name": "local", "url": "http://127.0.0.1:11434", **endpoint}],
        "models": [{"name": "llama3", "deployments": ["local"]}],
    }


@pytest.mark.parametrize(
    ("setting", "expected"),
    [({}, AiohttpTransport), ({"transport": "httpx"}, httpx.AsyncHTTPTransport)],
    ids=["default-aiohttp", "httpx"],
)
async def test_the_setting_picks_the_pool(setting: dict[str, str], expected: type) -> None:
    config = config_from_raw(_raw(**setting))
    (made,) = endpoint_transports(config).values()
    try:
        assert type(made.http_transport) is expected
    finally:
        await made.aclose()


async def test_an_injected_transport_wins() -> None:
    mock = httpx.MockTransport(lambda request: httpx.Response(200, json={"models": []}))
    config = config_from_raw(_raw(transport="aiohttp"))
    (made,) = endpoint_transports(config, lambda name: mock).values()
    try:
        assert made.http_transport is mock
        assert await made.list_models(made.new_call()) == ()
    finally:
        await made.aclose()


def test_yaml_sets_it_and_a_wrong_value_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "llm.yml"
    path.write_text(yaml.safe_dump(_raw(transport="httpx")))
    assert load_config(path).endpoints[0].transport == "httpx"
    with pytest.raises(ConfigError, match="transport"):
        config_from_raw(_raw(transport="requests"))


@pytest.mark.parametrize("kind", ["aiohttp", "httpx"])
async def test_runtime_chats_through_either(kind: str, tmp_path: Path) -> None:
    async with ChaosServer(models=["llama3"], seed=4) as server:
        server.script("llama3", ["through " + kind])
        raw = _raw(transport=kind)
        raw["endpoints"][0]["url"] = server.url
        raw["event_log"] = {"path": str(tmp_path / "events.db")}
        async with Runtime(config_from_raw(raw)) as runtime:
            reply = await runtime.chat([{"role": "user", "content": "hi"}], model="llama3")
    assert reply.content == "through " + kind
