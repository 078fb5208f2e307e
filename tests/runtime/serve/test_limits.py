"""Body checks shared by both protocols, and the protocol parsers (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from runtime.serve import BACKEND_FIELDS, ServeSettings
from runtime.serve._errors import HttpError
from runtime.serve._limits import check_max_tokens, parse_messages
from runtime.serve._ollama import parse_chat as ollama_chat
from runtime.serve._ollama import parse_generate
from runtime.serve._openai import parse_chat as openai_chat

SETTINGS = ServeSettings(max_messages=3, max_message_chars=10, max_tokens_cap=100)


def test_the_backend_denylist_covers_urls_and_keys() -> None:
    expected = {"base_url", "api_base", "api_key", "url", "endpoint", "headers", "host"}
    assert expected <= BACKEND_FIELDS


def test_messages_pass_through_as_sent() -> None:
    messages = [
        {"role": "developer", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "hi"},
                                     {"type": "image_url", "image_url": {"url": "data:,"}}]},
        {"role": "assistant", "content": None,
         "tool_calls": [{"id": "c1", "type": "function",
                         "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "42"},
        {"role": "user", "content": "x", "images": ["aGk="]},
    ]  # fmt: skip
    assert parse_messages(messages, ServeSettings(max_message_chars=10)) == tuple(messages)


@pytest.mark.parametrize(
    ("messages", "code", "param"),
    [
        ([{"role": "user", "content": "x"}] * 4, "too_many_messages", "messages"),
        ([{"role": "user", "content": "x" * 11}], "message_too_long", "messages[0].content"),
        ([{"role": "user", "content": [{"type": "text", "text": "x" * 6}] * 2}],
         "message_too_long", "messages[0].content"),
        ([{"role": "wizard", "content": "x"}], "invalid_field", "messages[0].role"),
        ([{"role": "user", "content": 5}], "invalid_field", "messages[0].content"),
        (["hello"], "invalid_field", "messages[0]"),
        ([], "invalid_field", "messages"),
    ],
)  # fmt: skip
def test_messages_over_the_caps_or_malformed_are_refused(
    messages: Any, code: str, param: str
) -> None:
    with pytest.raises(HttpError) as caught:
        parse_messages(messages, SETTINGS)
    assert caught.value.status == 400 and caught.value.code == code
    assert caught.value.param == param


def test_max_tokens_checks() -> None:
    assert check_max_tokens(None, "max_tokens", 100, negative_means_none=False) is None
    assert check_max_tokens(100, "max_tokens", 100, negative_means_none=False) == 100
    assert check_max_tokens(-1, "options.num_predict", 100, negative_means_none=True) is None
    with pytest.raises(HttpError, match="over this server's cap of 100"):
        check_max_tokens(101, "max_tokens", 100, negative_means_none=False)
    with pytest.raises(HttpError, match="must be an integer"):
        check_max_tokens(True, "max_tokens", 100, negative_means_none=False)


def test_openai_body_to_call() -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    call = openai_chat(
        {
            "model": "gen",
            "messages": [{"role": "user", "content": "hi"}],
            "stream": True,
            "max_tokens": 50,
            "max_completion_tokens": 20,
            "temperature": 0.5,
            "metadata": {"kind": "code"},
            "stream_options": {"include_usage": True},
            "top_p": 0.9,
            "top_k": 4,
            "seed": 7,
            "stop": ["END"],
            "frequency_penalty": 0.1,
            "presence_penalty": 0.2,
            "repeat_penalty": 1.1,
            "logprobs": True,
            "top_logprobs": 2,
            "tools": tools,
            "tool_choice": "auto",
            "response_format": {"type": "json_object"},
            "user": "someone",
            "parallel_tool_calls": False,
            "logit_bias": {"42": 1},
            "service_tier": None,
        },
        SETTINGS,
    )
    assert (call.target, call.stream, call.kind, call.include_usage) == ("gen", True, "code", True)
    assert call.params == {
        "max_tokens": 20, "temperature": 0.5, "top_p": 0.9, "top_k": 4, "seed": 7,
        "stop": ["END"], "frequency_penalty": 0.1, "presence_penalty": 0.2,
        "repeat_penalty": 1.1, "logprobs": True, "top_logprobs": 2, "tools": tools,
        "tool_choice": "auto", "response_format": {"type": "json_object"},
        "options": {"user": "someone", "parallel_tool_calls": False, "logit_bias": {"42": 1}},
    }  # fmt: skip


def test_openai_body_without_limits_sets_no_max_tokens() -> None:
    call = openai_chat({"model": "gen", "messages": [{"role": "user", "content": "hi"}]}, SETTINGS)
    assert call.params == {} and not call.stream


def test_ollama_chat_defaults_to_streaming_and_maps_options() -> None:
    call = ollama_chat(
        {"model": "gen", "messages": [{"role": "user", "content": "hi"}], "tools": [],
         "keep_alive": "5m", "think": False, "format": {"type": "object"},
         "options": {"num_predict": -1, "temperature": 0, "top_k": 4, "top_p": 0.5,
                     "seed": 3, "stop": ["x"], "repeat_penalty": 1.2, "num_ctx": 8192,
                     "min_p": 0.05}},
        SETTINGS,
    )  # fmt: skip
    assert call.stream
    assert call.params == {
        "temperature": 0.0, "top_k": 4, "top_p": 0.5, "seed": 3, "stop": ["x"],
        "repeat_penalty": 1.2,
        "options": {"num_ctx": 8192, "min_p": 0.05, "keep_alive": "5m", "think": False},
        "response_format": {"type": "json_schema",
                            "json_schema": {"name": "response", "schema": {"type": "object"}}},
    }  # fmt: skip


def test_ollama_json_format_and_tools() -> None:
    tools = [{"type": "function", "function": {"name": "f"}}]
    call = ollama_chat(
        {"model": "gen", "messages": [{"role": "user", "content": "hi"}], "tools": tools,
         "format": "json", "options": {"num_predict": 8000}, "logprobs": True,
         "top_logprobs": 2},
        ServeSettings(),
    )  # fmt: skip
    assert call.params == {
        "max_tokens": 8000, "tools": tools, "response_format": {"type": "json_object"},
        "logprobs": True, "top_logprobs": 2,
    }  # fmt: skip


def test_ollama_generate_turns_system_prompt_and_images_into_messages() -> None:
    call = parse_generate(
        {"model": "gen", "prompt": "hi", "system": "be brief", "stream": False,
         "images": ["aGk="], "suffix": "", "raw": False},
        SETTINGS,
    )  # fmt: skip
    empty = parse_generate({"model": "gen"}, SETTINGS)
    assert call.messages == (
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi", "images": ["aGk="]},
    )
    assert not call.stream and empty.messages == ()
