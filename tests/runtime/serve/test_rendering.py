"""Replies, stream events and errors in each protocol's shape (pure): tool calls,
finish reasons, log probabilities, parameter refusals."""

from __future__ import annotations

import json
from typing import Any

import pytest

from actors.endpoint import ToolCall, Usage
from actors.router import Reply, StreamChunk
from runtime import InvalidRequest, UnsupportedParameter
from runtime.serve._errors import from_runtime_error
from runtime.serve._ollama import final_line, reply_body
from runtime.serve._openai import chunk_events, completion

CALL = ToolCall(id="call_1", name="get_weather", arguments='{"city":"Paris"}')
USAGE = Usage(prompt_tokens=3, completion_tokens=4)
TOP = [{"token": "hi", "logprob": -0.5}]
OLLAMA_LOGPROBS = [{"token": "hi", "logprob": -0.5, "top_logprobs": TOP}]


def reply(**changes: Any) -> Reply:
    fields: dict[str, Any] = {"content": "", "model": "llama3", "endpoint": "a", "usage": USAGE,
                              "request_id": "r1", "attempts": (), "latency_s": 0.5}  # fmt: skip
    return Reply(**(fields | changes))


def chunk(**changes: Any) -> StreamChunk:
    fields: dict[str, Any] = {"content": "", "model": "llama3", "endpoint": "a", "request_id": "r1"}
    return StreamChunk(**(fields | changes))


def events(raw: list[bytes]) -> list[dict[str, Any]]:
    assert all(e.startswith(b"data: ") and e.endswith(b"\n\n") for e in raw)
    return [json.loads(e[6:]) for e in raw]


def test_an_openai_reply_with_tool_calls_has_null_content() -> None:
    body = completion(reply(tool_calls=(CALL,), finish_reason="stop"), 1)
    [choice] = body["choices"]
    assert choice["message"] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "call_1", "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}],
    }  # fmt: skip
    assert choice["finish_reason"] == "tool_calls"


@pytest.mark.parametrize(
    ("given", "shown"),
    [("length", "length"), ("content_filter", "content_filter"), ("tool_calls", "tool_calls"),
     (None, "stop"), ("eos", "stop")],
)  # fmt: skip
def test_openai_finish_reasons_pass_through(given: str | None, shown: str) -> None:
    [choice] = completion(reply(content="x", finish_reason=given), 1)["choices"]
    assert choice["finish_reason"] == shown


def test_logprobs_take_each_protocols_shape() -> None:
    openai_side = completion(reply(content="hi", logprobs=OLLAMA_LOGPROBS), 1)
    [entry] = openai_side["choices"][0]["logprobs"]["content"]
    assert entry["token"] == "hi" and entry["bytes"] is None
    assert entry["top_logprobs"] == [{"bytes": None, "token": "hi", "logprob": -0.5}]
    as_openai = {"content": OLLAMA_LOGPROBS}
    assert completion(reply(logprobs=as_openai), 1)["choices"][0]["logprobs"] == as_openai
    assert reply_body("chat", reply(logprobs=as_openai), 1.0)["logprobs"] == OLLAMA_LOGPROBS
    assert "logprobs" not in reply_body("chat", reply(), 1.0)


def test_the_final_stream_chunk_sends_tool_calls_before_the_finish() -> None:
    done = chunk(content="ok", done=True, finish_reason="tool_calls", tool_calls=(CALL,))
    text, calls, finish = events(chunk_events(done, 1, first=False))
    assert text["choices"][0]["delta"] == {"content": "ok"}
    assert calls["choices"][0]["delta"] == {"tool_calls": [{"index": 0, "id": "call_1",
        "type": "function", "function": {"name": "get_weather",
                                         "arguments": '{"city":"Paris"}'}}]}  # fmt: skip
    assert calls["choices"][0]["finish_reason"] is None
    assert finish["choices"][0] == {"index": 0, "delta": {}, "logprobs": None,
                                    "finish_reason": "tool_calls"}  # fmt: skip


def test_a_stream_that_is_only_a_tool_call_still_names_the_role_first() -> None:
    only = chunk(done=True, tool_calls=(CALL,))
    role, calls, finish = events(chunk_events(only, 1, first=True))
    assert role["choices"][0]["delta"] == {"role": "assistant"}
    assert calls["choices"][0]["delta"]["tool_calls"][0]["id"] == "call_1"
    assert finish["choices"][0]["finish_reason"] == "tool_calls"


def test_a_plain_final_chunk_is_one_event() -> None:
    [event] = events(chunk_events(chunk(content="end", done=True, finish_reason="length"), 1,
                                  first=False))  # fmt: skip
    assert event["choices"][0]["delta"] == {"content": "end"}
    assert event["choices"][0]["finish_reason"] == "length"


def test_ollama_replies_carry_tool_calls_with_object_arguments() -> None:
    body = reply_body("chat", reply(tool_calls=(CALL,), finish_reason="tool_calls"), 1.0)
    assert body["message"]["tool_calls"] == [
        {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
    ]
    assert body["done_reason"] == "stop" and body["eval_count"] == 4
    line = json.loads(final_line("chat", chunk(done=True, tool_calls=(CALL,)), 1.0, 0.1))
    assert line["done"] and line["message"]["tool_calls"][0]["function"]["name"] == "get_weather"
    length = reply_body("generate", reply(content="x", finish_reason="length"), 1.0)
    assert length["done_reason"] == "length" and length["response"] == "x"


def test_parameter_errors_name_the_parameter() -> None:
    refused = from_runtime_error(
        UnsupportedParameter("tool_choice", "ollama", "cannot force a call", "a"), now=0.0
    )
    assert refused is not None and (refused.status, refused.param) == (400, "tool_choice")
    assert refused.code == "unsupported_parameter"
    for message, param in [
        ("top_p must be a number in [0, 1], got 3", "top_p"),
        ("messages[2].role must be one of ...", "messages[2].role"),
        ("tools[0].function.name must be a non-empty string", "tools[0].function.name"),
        ("response_format json_schema needs ...", "response_format"),
        ("unknown parameter(s) foo", None),
    ]:
        error = from_runtime_error(InvalidRequest(message), now=0.0)
        assert error is not None and error.status == 400 and error.param == param
