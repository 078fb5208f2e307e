"""Agent replies: tool calls and logprobs, whole and streamed, in both APIs."""

from __future__ import annotations

import itertools
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.endpoint import (
    BackendError,
    Chunk,
    FailureClass,
    ToolCall,
    new_stream_parser,
    parse_chat_response,
)

LOGPROBS = {"content": [{"token": "Hi", "logprob": -0.1, "top_logprobs": []}]}


def _openai_reply(message: dict[str, Any], reason: str | None, **choice: Any) -> bytes:
    body = {
        "id": "x",
        "model": "gpt",
        "choices": [{"index": 0, "message": message, "finish_reason": reason, **choice}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4},
    }
    return msgspec.json.encode(body)


def test_openai_tool_calls_and_logprobs() -> None:
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
            {"id": "call_2", "type": "function", "function": {"name": "g", "arguments": '{"a":1}'}},
        ],
    }
    result = parse_chat_response(
        "openai", 200, {}, _openai_reply(message, "tool_calls", logprobs=LOGPROBS)
    )
    assert result.content == ""
    assert result.tool_calls == (
        ToolCall(id="call_1", name="f", arguments="{}"),
        ToolCall(id="call_2", name="g", arguments='{"a":1}'),
    )
    assert result.finish_reason == "tool_calls"
    assert result.logprobs == LOGPROBS


@pytest.mark.parametrize("reason", ["stop", None])
def test_tool_calls_turn_stop_into_tool_calls(reason: str | None) -> None:
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    message = {"role": "assistant", "content": "", "tool_calls": [call]}
    result = parse_chat_response("openai", 200, {}, _openai_reply(message, reason))
    assert result.finish_reason == "tool_calls"
    plain = parse_chat_response("openai", 200, {}, _openai_reply({"content": "x"}, "stop"))
    assert (plain.finish_reason, plain.tool_calls, plain.logprobs) == ("stop", (), None)
    length = parse_chat_response("openai", 200, {}, _openai_reply(message, "length"))
    assert length.finish_reason == "length"


@pytest.mark.parametrize(
    "calls",
    [
        {"id": "c"},
        [{"id": "c", "function": {"arguments": "{}"}}],
        [{"id": "c", "function": "f"}],
        [{"id": 5, "function": {"name": "f", "arguments": "{}"}}],
        [{"id": "c", "function": {"name": "f", "arguments": 12}}],
        ["call"],
    ],
)
def test_malformed_openai_tool_calls_are_bad_responses(calls: object) -> None:
    body = _openai_reply({"content": None, "tool_calls": calls}, "tool_calls")
    with pytest.raises(BackendError) as info:
        parse_chat_response("openai", 200, {}, body)
    assert info.value.failure is FailureClass.BAD_RESPONSE


def _ollama_reply(message: dict[str, Any], **extra: Any) -> bytes:
    body = {"model": "llama3", "message": message, "done": True, "eval_count": 5, **extra}
    return msgspec.json.encode(body)


def test_ollama_tool_calls_and_logprobs() -> None:
    message = {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {"function": {"name": "weather", "arguments": {"city": "Oslo"}}},
            {"id": "call_x", "function": {"name": "time", "arguments": {}}},
            {"function": {"name": "noop"}},
        ],
    }
    body = _ollama_reply(message, done_reason="stop", logprobs=[{"token": "a", "logprob": -1}])
    result = parse_chat_response("ollama", 200, {}, body)
    assert result.tool_calls == (
        ToolCall(id="call_0", name="weather", arguments='{"city":"Oslo"}'),
        ToolCall(id="call_x", name="time", arguments="{}"),
        ToolCall(id="call_2", name="noop", arguments="{}"),
    )
    assert result.tool_calls[0].parsed_arguments() == {"city": "Oslo"}
    assert result.finish_reason == "tool_calls"
    assert result.logprobs == [{"token": "a", "logprob": -1}]
    # The ids are stable: the same reply gives the same ids.
    assert parse_chat_response("ollama", 200, {}, body).tool_calls == result.tool_calls
    other = parse_chat_response("ollama", 200, {}, _ollama_reply(message, done_reason="length"))
    assert other.finish_reason == "length"


@pytest.mark.parametrize(
    "calls",
    [
        {"function": {"name": "f"}},
        [{"function": {"name": "f", "arguments": [1, 2]}}],
        [{"function": {"arguments": {}}}],
        [{"name": "f"}],
    ],
)
def test_malformed_ollama_tool_calls_are_bad_responses(calls: object) -> None:
    body = _ollama_reply({"role": "assistant", "content": "", "tool_calls": calls})
    with pytest.raises(BackendError) as info:
        parse_chat_response("ollama", 200, {}, body)
    assert info.value.failure is FailureClass.BAD_RESPONSE


# --- streams ------------------------------------------------------------------------


def _sse(*objects: dict[str, Any]) -> bytes:
    events = [b"data: " + msgspec.json.encode(obj) + b"\n\n" for obj in objects]
    return b"".join(events) + b"data: [DONE]\n\n"


def _delta(delta: dict[str, Any], reason: str | None = None, **choice: Any) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": reason, **choice}]}


def _tool_delta(index: int, **fields: Any) -> dict[str, Any]:
    return _delta({"tool_calls": [{"index": index, **fields}]})


# Two parallel calls; their arguments arrive in fragments, interleaved.
PARALLEL = _sse(
    _delta({"role": "assistant", "content": None}),
    _tool_delta(0, id="call_a", type="function", function={"name": "weather", "arguments": ""}),
    _tool_delta(0, function={"arguments": '{"ci'}),
    _tool_delta(1, id="call_b", type="function", function={"name": "time", "arguments": '{"tz"'}),
    _tool_delta(0, function={"arguments": 'ty": "Oslo"}'}),
    _tool_delta(1, function={"arguments": ': "UTC"}'}),
    _delta({}, "tool_calls"),
    {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 20}},
)
PARALLEL_CALLS = (
    ToolCall(id="call_a", name="weather", arguments='{"city": "Oslo"}'),
    ToolCall(id="call_b", name="time", arguments='{"tz": "UTC"}'),
)


def _feed(api: str, pieces: list[bytes]) -> list[Chunk]:
    parser = new_stream_parser(api)
    chunks = [chunk for piece in pieces for chunk in parser.feed(piece)]
    parser.end()
    return chunks


def test_sse_assembles_parallel_tool_calls_on_the_final_chunk() -> None:
    chunks = _feed("openai", [PARALLEL])
    content = [c for c in chunks if not c.done and c.content]
    assert content == []
    final = chunks[-1]
    assert [c.done for c in chunks].count(True) == 1
    assert final.done and final.tool_calls == PARALLEL_CALLS
    assert final.finish_reason == "tool_calls"
    assert final.usage is not None and final.usage.completion_tokens == 20


@settings(max_examples=200, deadline=None)
@given(cuts=st.lists(st.integers(0, len(PARALLEL)), max_size=12))
def test_sse_tool_calls_assemble_the_same_at_any_split(cuts: list[int]) -> None:
    points = [0, *sorted(cuts), len(PARALLEL)]
    pieces = [PARALLEL[a:b] for a, b in itertools.pairwise(points)]
    chunks = _feed("openai", pieces)
    done = [c for c in chunks if c.done]
    assert len(done) == 1
    assert done[0].tool_calls == PARALLEL_CALLS


def test_sse_text_then_tool_call_with_stop_and_logprobs() -> None:
    stream = _sse(
        _delta({"content": "Let me check."}, logprobs=LOGPROBS),
        _tool_delta(0, id="c1", function={"name": "f", "arguments": "{}"}),
        _delta({}, "stop"),
    )
    chunks = _feed("openai", [stream])
    text = [c for c in chunks if c.content]
    assert [(c.content, c.logprobs) for c in text] == [("Let me check.", LOGPROBS)]
    final = chunks[-1]
    assert final.done and final.finish_reason == "tool_calls"
    assert final.tool_calls == (ToolCall(id="c1", name="f", arguments="{}"),)
    assert final.logprobs is None


def test_sse_without_tool_calls_keeps_its_reason() -> None:
    final = _feed("openai", [_sse(_delta({"content": "hi"}), _delta({}, "stop"))])[-1]
    assert (final.finish_reason, final.tool_calls) == ("stop", ())


@pytest.mark.parametrize(
    "delta",
    [
        {"tool_calls": {"index": 0}},
        {"tool_calls": [{"index": "0", "function": {"name": "f"}}]},
        {"tool_calls": [{"index": 0, "function": {"name": "f", "arguments": {"a": 1}}}]},
        {"tool_calls": [{"index": 0, "function": "f"}]},
        {"tool_calls": [{"index": 0, "id": "c", "function": {"arguments": "{}"}}]},
    ],
)
def test_malformed_sse_tool_call_deltas_are_bad_responses(delta: dict[str, Any]) -> None:
    with pytest.raises(BackendError) as info:
        _feed("openai", [_sse(_delta(delta))])
    assert info.value.failure is FailureClass.BAD_RESPONSE


def _ndjson(*objects: dict[str, Any]) -> bytes:
    return b"".join(msgspec.json.encode(obj) + b"\n" for obj in objects)


def test_ndjson_gathers_tool_calls_onto_the_final_chunk() -> None:
    stream = _ndjson(
        {"message": {"role": "assistant", "content": "ok"}, "done": False, "logprobs": [1]},
        {
            "message": {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"function": {"name": "a", "arguments": {"x": 1}}}],
            },
            "done": False,
        },
        {
            "message": {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"function": {"name": "b", "arguments": {}}}],
            },
            "done": False,
        },
        {"message": {"role": "assistant", "content": ""}, "done": True, "done_reason": "stop"},
    )
    chunks = _feed("ollama", [stream])
    assert [(c.content, c.logprobs, c.tool_calls) for c in chunks[:-1]] == [("ok", [1], ())]
    final = chunks[-1]
    assert final.done and final.finish_reason == "tool_calls"
    assert final.tool_calls == (
        ToolCall(id="call_0", name="a", arguments='{"x":1}'),
        ToolCall(id="call_1", name="b", arguments="{}"),
    )


def test_ndjson_tool_calls_only_yield_one_final_chunk() -> None:
    call = {"function": {"name": "a", "arguments": {}}}
    stream = _ndjson(
        {"message": {"role": "assistant", "content": "", "tool_calls": [call]}, "done": False},
        {"message": {"role": "assistant", "content": ""}, "done": True},
    )
    chunks = _feed("ollama", [stream])
    assert len(chunks) == 1
    assert chunks[0].done and chunks[0].finish_reason == "tool_calls"
    assert chunks[0].tool_calls[0].name == "a"
