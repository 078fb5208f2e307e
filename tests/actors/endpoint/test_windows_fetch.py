"""``fetch_context_lengths`` over the chaos backend's real HTTP routes."""

from __future__ import annotations

from actors.endpoint import EndpointTransport, fetch_context_lengths
from runtime.testing import ChaosServer


async def test_ollama_windows_come_from_api_show() -> None:
    async with ChaosServer(["llama3:latest", "qwen:7b"]) as server:
        transport = EndpointTransport(name="o", url=server.url, api="ollama")
        try:
            models = ("llama3:latest", "qwen:7b", "gone")
            off = await fetch_context_lengths(transport, models)
            found = await fetch_context_lengths(transport, models, show=True)
        finally:
            await transport.aclose()
    assert off.lengths == {}  # Ollama is asked only with show=True
    assert found.lengths == {"llama3:latest": 8192, "qwen:7b": 8192}  # "gone": 404, unknown
    assert server.requests_for(route="/api/show") == 3


async def test_a_server_without_props_is_not_asked_again() -> None:
    async with ChaosServer(["llama3"]) as server:
        transport = EndpointTransport(name="v", url=server.url, api="openai", api_key="sk-t")
        try:
            first = await fetch_context_lengths(transport, ("llama3",))
            again = await fetch_context_lengths(transport, ("llama3",), props=first.props)
        finally:
            await transport.aclose()
    assert first.lengths == again.lengths == {}
    assert first.props is False and again.props is False  # /props answered 404
    assert server.requests_for(route="/props") == 1  # not asked again
    assert server.requests_for(route="/v1/models") == 0
