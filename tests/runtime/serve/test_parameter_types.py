"""Issue 19 point 6: every parameter serve passes on has its type (and obvious range)
checked, on both wire formats; a wrong one is a 400 naming the field, never a 200 that
drops it and never a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from runtime.serve import ServeSettings
from runtime.serve._field_types import SAMPLING
from tests.runtime.serve._support import USER, Facade, chats, received, standalone

CHAT = {"model": "llama3", "messages": USER, "stream": False}
BASES: dict[str, dict[str, Any]] = {
    "/v1/chat/completions": CHAT,
    "/api/chat": CHAT,
    "/api/generate": {"model": "llama3", "prompt": "hi", "stream": False},
    "/v1/embeddings": {"model": "llama3", "input": "hi"},
    "/api/embed": {"model": "llama3", "input": "hi"},
    "/api/embeddings": {"model": "llama3", "prompt": "hi"},
}
"""A valid body for each route; each case sets one field of it to a wrong value."""
OPENAI_CHAT_WRONG: dict[str, list[Any]] = {
    "temperature": ["0.2", -1, True, [0.2], 10**400],
    "top_p": ["0.5", 1.5, True, -0.1],
    "top_k": [2.5, "3", -1],
    "seed": ["7", 1.5, 2**64, True],
    "stop": [5, [1], [""], {"a": 1}, ["x"] * 17],
    "frequency_penalty": ["x", 3],
    "presence_penalty": [[], -3],
    "repeat_penalty": ["x", -1],
    "logprobs": ["yes", 1],
    "top_logprobs": ["2", 21, -1, True],
    "response_format": ["json", {"type": 3}, [1], {"type": "json_schema"}],
    "tools": ["x", [1]],
    "tool_choice": [5, "sometimes"],
    "max_tokens": ["10", 1.5, 0, True],
    "max_completion_tokens": ["10", -1],
    "n": [True, "1", 2, 0, 1.5],
    "stream": ["yes", 1],
    "stream_options": [5, "x"],
    "user": [5, ["u"]],
    "parallel_tool_calls": ["x", 0],
    "logit_bias": [5, {"abc": 1}],
    "store": ["yes"],
    "service_tier": [1],
    "reasoning_effort": [3],
    "modalities": ["text", [1]],
    "metadata": ["x", [1]],
    "kind": [5, "no spaces allowed"],
}
OLLAMA_OPTIONS_WRONG: dict[str, list[Any]] = {
    "temperature": ["x", -1],
    "top_p": [2, "x", True],
    "top_k": ["x", -1],
    "seed": ["x", 1.5, 2**64],
    "stop": [5, [1], [""]],
    "num_predict": ["x", 1.5, 0],
    "num_ctx": ["big", 0, True],
    "min_p": ["x", 2],
    "typical_p": [-1],
    "mirostat": [3, "x"],
    "mirostat_tau": ["x"],
    "repeat_last_n": [-2, "x"],
    "use_mmap": ["yes", 1],
    "penalize_newline": [1],
    "num_thread": [-1],
}
OLLAMA_TOP_WRONG: dict[str, list[Any]] = {
    "options": [5, [1], "x"],
    "format": [5, "xml", [1]],
    "keep_alive": [[1], "soon", True, {}],
    "think": ["yes", 1],
    "logprobs": ["yes"],
    "top_logprobs": ["2", 21],
    "stream": ["no"],
    "kind": [5],
}

EMBEDDINGS_WRONG: dict[str, list[Any]] = {
    "dimensions": ["3", 0, 1.5, True],
    "encoding_format": [5, "hex", ""],
    "user": [5],
    "input": [5, []],
    "kind": [5],
}
EMBED_WRONG: dict[str, list[Any]] = {"dimensions": ["3", 0], "truncate": ["yes", 1], "input": [5]}


def _cases() -> list[tuple[str, str, Any]]:
    """``(route, field path, wrong value)`` for every parameter of every route."""
    cases = [("/v1/chat/completions", f, v) for f, vs in OPENAI_CHAT_WRONG.items() for v in vs]
    cases += [
        ("/v1/chat/completions", "stream_options.include_usage", "yes"),
        ("/v1/chat/completions", "logit_bias.42", "x"),
        ("/v1/chat/completions", "logit_bias.42", 101),
        ("/v1/chat/completions", "metadata.team", 5),
        ("/v1/chat/completions", "metadata.kind", 5),
    ]
    for route in ("/api/chat", "/api/generate"):
        cases += [(route, f"options.{f}", v) for f, vs in OLLAMA_OPTIONS_WRONG.items() for v in vs]
        cases += [(route, f, v) for f, vs in OLLAMA_TOP_WRONG.items() for v in vs]
    cases += [("/api/chat", "tools", v) for v in ("x", [1])]
    cases += [("/api/generate", f, 5) for f in ("prompt", "system", "images")]
    cases += [("/v1/embeddings", f, v) for f, vs in EMBEDDINGS_WRONG.items() for v in vs]
    for route in ("/api/embed", "/api/embeddings"):
        cases += [(route, "keep_alive", v) for v in ([1], "soon")]
        cases += [(route, "options.num_ctx", v) for v in ("x", 0)]
        cases += [(route, "options", 5), (route, "options.top_p", 2)]
    cases += [("/api/embed", f, v) for f, vs in EMBED_WRONG.items() for v in vs]
    cases += [("/api/embeddings", "prompt", 5)]
    return cases


def with_field(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """``body`` with the field at ``path`` (``options.num_ctx``) set to ``value``."""
    head, _, rest = path.partition(".")
    if not rest:
        return {**body, head: value}
    inner = body.get(head)
    return {**body, head: with_field(inner if isinstance(inner, dict) else {}, rest, value)}


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def shared(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Facade]:
    """One facade: the wrong-type tests send only refused requests."""
    async with standalone(tmp_path_factory.mktemp("types")) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def http(shared: Facade) -> AsyncIterator[httpx.AsyncClient]:
    async with shared.client() as client:
        yield client


def _id(case: tuple[str, str, Any]) -> str:
    return f"{case[0]}:{case[1]}={case[2]!r:.24}"


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("case", _cases(), ids=_id)
async def test_a_wrong_type_or_range_is_a_400_naming_the_field(
    shared: Facade, http: httpx.AsyncClient, case: tuple[str, str, Any]
) -> None:
    route, field, value = case
    before = chats(shared)
    response = await http.post(route, json=with_field(BASES[route], field, value))
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    if route.startswith("/v1/"):
        assert error["param"] == field, error
        assert field in error["message"] and error["type"] == "invalid_request_error"
    else:
        assert isinstance(error, str) and field in error, error
    assert chats(shared) == before, "a refused request reached a backend"


@pytest.mark.asyncio(loop_scope="module")
async def test_the_right_types_of_the_newly_checked_fields_reach_the_backend(
    tmp_path: Path,
) -> None:
    openai = {**CHAT, "n": 1, "user": "u-1", "logit_bias": {"42": -1.5}, "store": False,
              "seed": 3.0, "top_logprobs": 20, "logprobs": True}  # fmt: skip
    options = {"num_ctx": 4096, "min_p": 0.05, "mirostat": 2, "use_mmap": True, "x_new": "y"}
    ollama = {**CHAT, "options": options, "keep_alive": "1h30m", "think": "high"}
    embed = {**BASES["/api/embed"], "truncate": True, "keep_alive": 300, "dimensions": 2}
    async with standalone(tmp_path, ServeSettings(api_key="k" * 24)) as served:
        async with served.client(key="k" * 24) as client:
            for route, body in (("/v1/chat/completions", openai), ("/api/chat", ollama),
                                ("/api/embed", embed)):  # fmt: skip
                response = await client.post(route, json=body)
                assert response.status_code == 200, (route, response.text)
        # which backend took which call is the router's choice: tell them by content
        chat_bodies = received(served)
        [first] = [sent for sent in chat_bodies if "keep_alive" not in sent]
        [second] = [sent for sent in chat_bodies if "keep_alive" in sent]
        embedded = received(served, "/api/embed")[-1]
    assert first["options"]["seed"] == 3 and first["top_logprobs"] == 20, first
    assert first["options"]["user"] == "u-1" and first["logprobs"] is True
    assert second["options"] == options  # an option not in the table passes unchecked
    assert second["keep_alive"] == "1h30m" and second["think"] == "high"
    assert embedded["truncate"] is True and embedded["keep_alive"] == 300
    assert embedded["dimensions"] == 2


def test_the_sampling_ranges_are_the_runtimes() -> None:
    from runtime._params import _COUNTS, _NUMBERS

    for name, (low, high) in _NUMBERS.items():
        check = SAMPLING[name]
        assert check(low, name) == low and check(high, name) == high
        for outside in (low - 0.01, high + 0.01):
            with pytest.raises(Exception, match=name):
                check(outside, name)
    for name, low in _COUNTS.items():
        if name in SAMPLING:
            assert SAMPLING[name](low, name) == low
            with pytest.raises(Exception, match=name):
                SAMPLING[name](low - 1, name)
