"""The request surface, checked before anything is sent: messages and parameters (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from actors.endpoint import ImagePart, Message, Parameters, ResponseFormat, TextPart, ToolCall
from runtime import InvalidRequest
from runtime._messages import parse_messages
from runtime._params import GenerationParams, parameters

PNG = (  # a 1x1 PNG
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def test_plain_text_messages_stay_plain() -> None:
    (message,) = parse_messages([{"role": "user", "content": "hi"}])
    assert message == Message(role="user", content="hi")
    assert message.text == "hi"


@pytest.mark.parametrize(
    "item",
    [
        {"role": "system", "content": "be brief"},
        {"role": "assistant", "content": ""},
        {"role": "developer", "content": "x"},  # renamed: not the plain path
        {"role": "tool", "content": "42"},  # needs a call id: refused by the full check
        {"role": "user", "content": None},
        {"role": "robot", "content": "hi"},
        {"role": "user", "content": 3},
    ],
)
def test_the_plain_fast_path_answers_as_the_full_check(item: dict[str, Any]) -> None:
    # The fast path takes exactly {"role": system|user|assistant, "content": str}; a
    # subclass of dict (a Mapping, not a dict) goes the full way and must agree.
    class Other(dict[str, Any]):
        pass

    def outcome(messages: Any) -> object:
        try:
            return parse_messages(messages)
        except InvalidRequest as exc:
            return str(exc)

    assert outcome([item]) == outcome([Other(item)])


def test_parts_with_images_in_openai_shape() -> None:
    (message,) = parse_messages(
        [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is "},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                    {"type": "text", "text": "this?"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "https://x.test/a.jpg", "detail": "low"},
                    },
                ],
            }
        ]
    )
    assert message.content == (
        TextPart(text="what is "),
        ImagePart(url=f"data:image/png;base64,{PNG}"),
        TextPart(text="this?"),
        ImagePart(url="https://x.test/a.jpg", detail="low"),
    )
    assert message.text == "what is this?"
    assert isinstance(message.content[1], ImagePart) and message.content[1].base64 == PNG


def test_ollama_images_become_data_urls_with_their_media_type() -> None:
    (message,) = parse_messages([{"role": "user", "content": "see", "images": [PNG]}])
    assert message.content == (
        TextPart(text="see"),
        ImagePart(url=f"data:image/png;base64,{PNG}"),
    )


def test_a_tool_round_trip_conversation() -> None:
    messages = parse_messages(
        [
            {"role": "user", "content": "weather in Paris?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "18 C"},
        ]
    )
    assert messages[1].tool_calls == (
        ToolCall(id="call_1", name="get_weather", arguments='{"city": "Paris"}'),
    )
    assert messages[1].content == ""
    assert messages[2].tool_call_id == "call_1"


def test_ollama_tool_calls_with_object_arguments_and_tool_name() -> None:
    messages = parse_messages(
        [
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}],
            },
            {"role": "tool", "tool_name": "f", "content": "2"},
        ]
    )
    (call,) = messages[0].tool_calls
    assert call.name == "f" and call.parsed_arguments() == {"a": 1} and call.id == "call_0"
    assert messages[1].name == "f"


def test_developer_is_system() -> None:
    (message,) = parse_messages([{"role": "developer", "content": "be brief"}])
    assert message.role == "system"


@pytest.mark.parametrize(
    ("messages", "named"),
    [
        ("hi", "not a string"),
        ([], "messages is empty"),
        ([{"role": "robot", "content": "x"}], "messages[0].role"),
        ([{"role": "user"}], "messages[0].content is missing"),
        ([{"role": "user", "content": 3}], "messages[0].content must be"),
        ([{"role": "user", "content": [{"type": "audio"}]}], "messages[0].content[0]"),
        (
            [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x"}}]}],
            "messages[0].content[0].image_url.url",
        ),
        ([{"role": "user", "content": "x", "images": "abc"}], "messages[0].images"),
        ([{"role": "tool", "content": "x"}], "tool_call_id"),
        (
            [{"role": "user", "content": "x", "tool_calls": [{"function": {"name": "f"}}]}],
            "only an assistant message",
        ),
        (
            [{"role": "assistant", "content": "", "tool_calls": [{"function": {}}]}],
            "messages[0].tool_calls[0].function.name",
        ),
    ],
)
def test_bad_messages_are_refused_by_name(messages: Any, named: str) -> None:
    with pytest.raises(InvalidRequest, match=named.replace("[", r"\[").replace("]", r"\]")):
        parse_messages(messages)


def test_every_parameter_is_checked_into_parameters() -> None:
    given: GenerationParams = {
        "max_tokens": 8000,
        "temperature": 0.2,
        "top_p": 0.9,
        "top_k": 40,
        "seed": 7,
        "stop": "END",
        "frequency_penalty": 0.5,
        "presence_penalty": -0.5,
        "repeat_penalty": 1.1,
        "logprobs": True,
        "top_logprobs": 3,
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "person", "schema": {"type": "object"}, "strict": True},
        },
        "options": {"num_ctx": 8192, "keep_alive": "5m"},
    }
    assert parameters(given) == Parameters(
        max_tokens=8000,
        temperature=0.2,
        top_p=0.9,
        top_k=40,
        seed=7,
        stop=("END",),
        frequency_penalty=0.5,
        presence_penalty=-0.5,
        repeat_penalty=1.1,
        logprobs=True,
        top_logprobs=3,
        tools=({"type": "function", "function": {"name": "f", "parameters": {}}},),
        tool_choice={"type": "function", "function": {"name": "f"}},
        response_format=ResponseFormat(
            type="json_schema", schema={"type": "object"}, name="person", strict=True
        ),
        options={"num_ctx": 8192, "keep_alive": "5m"},
    )


def test_none_means_not_set() -> None:
    assert parameters({"max_tokens": None, "stop": None}) == Parameters()


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": True}, "max_tokens"),
        ({"temperature": -1}, "temperature"),
        ({"top_p": 1.5}, "top_p"),
        ({"top_k": "4"}, "top_k"),
        ({"seed": 1.5}, "seed"),
        ({"stop": ["a", 3]}, "stop"),
        ({"stop": [""]}, "stop"),
        ({"logprobs": 1}, "logprobs"),
        ({"tools": [{"type": "function", "function": {}}]}, r"tools\[0\].function.name"),
        ({"tool_choice": "sometimes"}, "tool_choice"),
        ({"response_format": {"type": "xml"}}, "response_format"),
        ({"response_format": {"type": "json_schema"}}, "response_format json_schema"),
        ({"options": ["num_ctx"]}, "options"),
        ({"num_ctx": 4096}, "unknown parameter"),
    ],
)
def test_bad_parameters_are_refused_by_name(given: Any, named: str) -> None:
    with pytest.raises(InvalidRequest, match=named):
        parameters(given)


def test_call_parameters_win_over_model_defaults_and_options_merge() -> None:
    call = Parameters(temperature=0.1, options={"num_ctx": 4096})
    defaults = Parameters(temperature=0.7, max_tokens=100, options={"num_ctx": 2048, "top_k": 5})
    assert call.over(defaults) == Parameters(
        temperature=0.1, max_tokens=100, options={"num_ctx": 4096, "top_k": 5}
    )
