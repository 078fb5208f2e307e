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


def test_messages_accept_text_parts_and_the_developer_role() -> None:
    parsed = parse_messages(
        [
            {"role": "developer", "content": "be brief"},
            {
                "role": "user",
                "content": [{"type": "text", "text": "hi "}, {"type": "text", "text": "you"}],
            },
            {"role": "assistant", "content": None},
        ],
        SETTINGS,
    )
    assert parsed == (
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi you"},
        {"role": "assistant", "content": ""},
    )


@pytest.mark.parametrize(
    ("messages", "code"),
    [
        ([{"role": "user", "content": "x"}] * 4, "too_many_messages"),
        ([{"role": "user", "content": "x" * 11}], "message_too_long"),
        ([{"role": "tool", "content": "x"}], "invalid_field"),
        ([{"role": "user", "content": "x", "images": ["aGk="]}], "invalid_field"),
        (["hello"], "invalid_field"),
    ],
)
def test_messages_over_the_caps_or_malformed_are_refused(messages: Any, code: str) -> None:
    with pytest.raises(HttpError) as caught:
        parse_messages(messages, SETTINGS)
    assert caught.value.status == 400 and caught.value.code == code


def test_max_tokens_checks() -> None:
    assert check_max_tokens(None, "max_tokens", 100, negative_means_none=False) is None
    assert check_max_tokens(100, "max_tokens", 100, negative_means_none=False) == 100
    assert check_max_tokens(-1, "options.num_predict", 100, negative_means_none=True) is None
    with pytest.raises(HttpError, match="over this server's cap of 100"):
        check_max_tokens(101, "max_tokens", 100, negative_means_none=False)
    with pytest.raises(HttpError, match="must be an integer"):
        check_max_tokens(True, "max_tokens", 100, negative_means_none=False)


def test_openai_body_to_call() -> None:
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
            "user": "someone",
        },
        SETTINGS,
    )
    assert (call.target, call.stream, call.max_tokens, call.temperature) == ("gen", True, 20, 0.5)
    assert call.kind == "code" and call.include_usage


def test_ollama_chat_defaults_to_streaming_and_reads_options() -> None:
    call = ollama_chat(
        {"model": "gen", "messages": [{"role": "user", "content": "hi"}], "tools": [],
         "keep_alive": "5m", "options": {"num_predict": -1, "temperature": 0, "top_k": 4}},
        SETTINGS,
    )  # fmt: skip
    assert call.stream and call.max_tokens is None and call.temperature == 0.0


def test_ollama_generate_turns_system_and_prompt_into_messages() -> None:
    call = parse_generate(
        {"model": "gen", "prompt": "hi", "system": "be brief", "stream": False}, SETTINGS
    )
    empty = parse_generate({"model": "gen"}, SETTINGS)
    assert call.messages == (
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
    )
    assert not call.stream and empty.messages == ()
