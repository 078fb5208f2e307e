"""Chat requests on the wire: every parameter translated to each API, or refused."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.endpoint import (
    ChatRequest,
    ImagePart,
    Message,
    Parameters,
    ResponseFormat,
    TextPart,
    ToolCall,
    UnsupportedParameter,
    build_chat_request,
    check_chat_request,
)

TOOL = {
    "type": "function",
    "function": {"name": "weather", "parameters": {"type": "object", "properties": {}}},
}
ALL = Parameters(
    max_tokens=10,
    temperature=0.5,
    top_p=0.9,
    top_k=40,
    seed=3,
    stop=("END", "##"),
    frequency_penalty=0.1,
    presence_penalty=0.2,
    repeat_penalty=1.1,
    logprobs=True,
    top_logprobs=2,
    tools=(TOOL,),
    tool_choice="auto",
    response_format=ResponseFormat(type="json_object"),
)
PNG = "data:image/png;base64,iVBORw0KGgo="
CALL = ToolCall(id="call_a", name="weather", arguments='{"city": "Oslo"}')
CONVERSATION = (
    Message(role="system", content="be brief"),
    Message(
        role="user",
        content=(TextPart(text="what is "), ImagePart(url=PNG, detail="low"), TextPart(text="?")),
        name="ann",
    ),
    Message(role="assistant", tool_calls=(CALL,)),
    Message(role="tool", content="12C", tool_call_id="call_a", name="weather"),
)


def _body(api: str, params: Parameters = Parameters(), **kwargs: Any) -> dict[str, Any]:  # noqa: B008
    kwargs.setdefault("messages", (Message(role="user", content="hi"),))
    req = ChatRequest(model="m", params=params, **kwargs)
    value = msgspec.json.decode(build_chat_request(api, req, api_key=None).body)
    assert isinstance(value, dict)
    return value


def _refused(api: str, req: ChatRequest) -> UnsupportedParameter:
    with pytest.raises(UnsupportedParameter) as checked:
        check_chat_request(api, req)
    with pytest.raises(UnsupportedParameter) as built:
        build_chat_request(api, req, api_key=None)
    assert str(checked.value) == str(built.value)
    assert built.value.api == api
    return built.value


def test_openai_carries_every_parameter_at_the_top_level() -> None:
    body = _body("openai", ALL)
    assert body == {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": False,
        "max_tokens": 10,
        "temperature": 0.5,
        "top_p": 0.9,
        "top_k": 40,
        "seed": 3,
        "stop": ["END", "##"],
        "frequency_penalty": 0.1,
        "presence_penalty": 0.2,
        "repeat_penalty": 1.1,
        "logprobs": True,
        "top_logprobs": 2,
        "tools": [TOOL],
        "tool_choice": "auto",
        "response_format": {"type": "json_object"},
    }


def test_ollama_carries_every_parameter() -> None:
    body = _body("ollama", ALL)
    assert body == {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": False,
        "options": {
            "num_predict": 10,
            "temperature": 0.5,
            "top_p": 0.9,
            "top_k": 40,
            "seed": 3,
            "stop": ["END", "##"],
            "frequency_penalty": 0.1,
            "presence_penalty": 0.2,
            "repeat_penalty": 1.1,
        },
        "tools": [TOOL],
        "format": "json",
        "logprobs": True,
        "top_logprobs": 2,
    }


def test_openai_options_merge_first_and_named_parameters_win() -> None:
    params = Parameters(temperature=0.3, options={"temperature": 1.5, "min_p": 0.05})
    body = _body("openai", params)
    assert (body["temperature"], body["min_p"]) == (0.3, 0.05)


def test_ollama_options_keep_alive_and_think_go_top_level() -> None:
    options = {"num_ctx": 4096, "keep_alive": "5m", "think": False, "temperature": 2.0}
    body = _body("ollama", Parameters(temperature=0.1, options=options))
    assert body["keep_alive"] == "5m"
    assert body["think"] is False
    assert body["options"] == {"num_ctx": 4096, "temperature": 0.1}


@pytest.mark.parametrize("key", ["model", "messages", "stream", "stream_options"])
def test_openai_reserved_options_are_value_errors(key: str) -> None:
    req = ChatRequest(model="m", messages=(), params=Parameters(options={key: 1}))
    with pytest.raises(ValueError, match=key) as info:
        build_chat_request("openai", req, api_key=None)
    assert not isinstance(info.value, UnsupportedParameter)


@pytest.mark.parametrize("key", ["num_ctx", "keep_alive", "mirostat", "think", "num_gpu"])
def test_openai_refuses_ollama_only_options(key: str) -> None:
    req = ChatRequest(model="m", messages=(), params=Parameters(options={key: 1}))
    error = _refused("openai", req)
    assert error.parameter == f"options.{key}"
    assert "api: ollama" in error.why


def test_response_formats() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    strict = ResponseFormat(type="json_schema", schema=schema, name="answer", strict=True)
    assert _body("openai", Parameters(response_format=strict))["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": schema, "strict": True},
    }
    loose = ResponseFormat(type="json_schema", schema=schema)
    sent = _body("openai", Parameters(response_format=loose))["response_format"]
    assert sent == {"type": "json_schema", "json_schema": {"name": "response", "schema": schema}}
    assert _body("ollama", Parameters(response_format=strict))["format"] == schema
    text = Parameters(response_format=ResponseFormat(type="text"))
    assert "response_format" not in _body("openai", text)
    assert "format" not in _body("ollama", text)
    bare = ChatRequest(
        model="m",
        messages=(),
        params=Parameters(response_format=ResponseFormat(type="json_schema")),
    )
    for api in ("openai", "ollama"):
        with pytest.raises(ValueError, match="schema"):
            build_chat_request(api, bare, api_key=None)


def test_openai_messages_with_parts_tool_calls_and_tool_results() -> None:
    body = _body("openai", messages=CONVERSATION)
    assert body["messages"] == [
        {"role": "system", "content": "be brief"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is "},
                {"type": "image_url", "image_url": {"url": PNG, "detail": "low"}},
                {"type": "text", "text": "?"},
            ],
            "name": "ann",
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_a",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"city": "Oslo"}'},
                }
            ],
        },
        {"role": "tool", "content": "12C", "tool_call_id": "call_a"},
    ]


def test_openai_passes_image_urls_by_reference() -> None:
    message = Message(role="user", content=(ImagePart(url="https://x.test/a.png"),))
    body = _body("openai", messages=(message,))
    assert body["messages"][0]["content"] == [
        {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}
    ]


def test_ollama_messages_with_images_tool_calls_and_tool_results() -> None:
    body = _body("ollama", messages=CONVERSATION)
    assert body["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "what is ?", "images": ["iVBORw0KGgo="]},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"function": {"name": "weather", "arguments": {"city": "Oslo"}}}],
        },
        {"role": "tool", "content": "12C", "tool_name": "weather"},
    ]


def test_ollama_refuses_images_by_url() -> None:
    message = Message(role="user", content=(TextPart(text="x"), ImagePart(url="https://x/a.png")))
    req = ChatRequest(model="m", messages=(Message(role="system", content="s"), message))
    error = _refused("ollama", req)
    assert error.parameter == "messages[1].content[1].image_url"
    assert "data: URL" in error.why
    not_base64 = Message(role="user", content=(ImagePart(url="data:image/png,raw"),))
    assert _refused("ollama", ChatRequest(model="m", messages=(not_base64,))).parameter == (
        "messages[0].content[0].image_url"
    )


@pytest.mark.parametrize("arguments", ["[1, 2]", "not json", '"text"'])
def test_ollama_refuses_tool_arguments_that_are_not_objects(arguments: str) -> None:
    calls = (CALL, ToolCall(id="b", name="f", arguments=arguments))
    req = ChatRequest(model="m", messages=(Message(role="assistant", tool_calls=calls),))
    assert _refused("ollama", req).parameter == "messages[0].tool_calls[1].arguments"


def test_ollama_tool_choice() -> None:
    assert _body("ollama", Parameters(tools=(TOOL,), tool_choice="auto"))["tools"] == [TOOL]
    assert "tools" not in _body("ollama", Parameters(tools=(TOOL,), tool_choice="none"))
    forced: list[str | dict[str, Any]] = [
        "required",
        {"type": "function", "function": {"name": "weather"}},
    ]
    for choice in forced:
        req = ChatRequest(
            model="m", messages=(), params=Parameters(tools=(TOOL,), tool_choice=choice)
        )
        assert _refused("ollama", req).parameter == "tool_choice"
        body = msgspec.json.decode(build_chat_request("openai", req, api_key=None).body)
        assert body["tool_choice"] == choice


def test_unset_parameters_send_nothing() -> None:
    assert _body("openai") == {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": False,
    }
    assert _body("ollama") == {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": False,
    }


def test_check_chat_request_passes_what_builds() -> None:
    for api in ("openai", "ollama"):
        check_chat_request(api, ChatRequest(model="m", messages=CONVERSATION, params=ALL))
    with pytest.raises(ValueError, match="unknown api"):
        check_chat_request("grpc", ChatRequest(model="m", messages=()))


_OPTION_KEYS = st.sampled_from(["num_ctx", "min_p", "keep_alive", "cache_prompt", "think", "x"])


@settings(max_examples=150, deadline=None)
@given(
    api=st.sampled_from(["openai", "ollama"]),
    options=st.dictionaries(_OPTION_KEYS, st.integers(0, 5), max_size=3),
    choice=st.sampled_from([None, "auto", "none", "required"]),
    url=st.sampled_from([PNG, "https://x/a.png", "data:image/png,raw"]),
    arguments=st.sampled_from(['{"a": 1}', "[1]", "{}"]),
)
def test_check_refuses_exactly_when_build_does(
    api: str, options: dict[str, int], choice: str | None, url: str, arguments: str
) -> None:
    messages = (
        Message(role="user", content=(ImagePart(url=url),)),
        Message(role="assistant", tool_calls=(ToolCall(id="i", name="f", arguments=arguments),)),
    )
    params = Parameters(options=dict(options), tool_choice=choice, tools=(TOOL,))
    req = ChatRequest(model="m", messages=messages, params=params)
    try:
        build_chat_request(api, req, api_key=None)
    except UnsupportedParameter as exc:
        with pytest.raises(UnsupportedParameter) as info:
            check_chat_request(api, req)
        assert info.value.parameter == exc.parameter
    else:
        check_chat_request(api, req)


def test_ollama_body_without_parameters_is_model_messages_stream() -> None:
    req = ChatRequest(model="m", messages=(Message(role="user", content="hi"),))
    body = msgspec.json.decode(build_chat_request("ollama", req, api_key=None).body)
    assert body == {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": False}
    explicit = msgspec.structs.replace(req, params=Parameters())  # equal to unset
    assert (
        build_chat_request("ollama", explicit, api_key=None).body
        == build_chat_request("ollama", req, api_key=None).body
    )


def test_ollama_body_keeps_its_key_order_with_parameters() -> None:
    params = msgspec.structs.replace(ALL, options={"keep_alive": "5m", "num_ctx": 4096})
    req = ChatRequest(model="m", messages=(Message(role="user", content="hi"),), params=params)
    body = msgspec.json.decode(build_chat_request("ollama", req, api_key=None).body)
    assert list(body)[:4] == ["model", "messages", "stream", "keep_alive"]
    assert list(body).index("options") < list(body).index("tools") < list(body).index("format")
    assert body["options"]["num_ctx"] == 4096 and body["options"]["num_predict"] == 10
