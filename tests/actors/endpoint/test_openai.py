"""OpenAI-compatible API: request building, /v1/models, non-stream and SSE parsing."""

from __future__ import annotations

import msgspec
import pytest

from actors.endpoint import (
    BackendError,
    ChatRequest,
    FailureClass,
    Message,
    Parameters,
    SseStreamParser,
    Usage,
    build_chat_request,
    build_models_request,
    parse_chat_response,
    parse_models_response,
    resolve_model,
)
from tests.actors.endpoint import _samples as s

REQ = ChatRequest(
    model="gpt-4o-mini",
    messages=(Message(role="system", content="be brief"), Message(role="user", content="hi")),
    params=Parameters(max_tokens=32, temperature=0.0, seed=7),
)


def test_build_chat_request_with_key() -> None:
    spec = build_chat_request("openai", REQ, api_key="sk-test-123456")
    assert (spec.method, spec.path) == ("POST", "/v1/chat/completions")
    assert ("Authorization", "Bearer sk-test-123456") in spec.headers
    body = msgspec.json.decode(spec.body)
    assert body == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
        "stream": False,
        "max_tokens": 32,
        "temperature": 0.0,
        "seed": 7,
    }
    assert b"sk-test" not in spec.body


def test_build_streaming_request_asks_for_usage_and_no_key() -> None:
    spec = build_chat_request("openai", msgspec.structs.replace(REQ, stream=True), api_key=None)
    body = msgspec.json.decode(spec.body)
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert not any(name.lower() == "authorization" for name, _ in spec.headers)
    assert ("Accept", "text/event-stream") in spec.headers


@pytest.mark.parametrize("key", ["", "abc\r\nX-Evil: 1"])
def test_bad_keys_are_refused(key: str) -> None:
    with pytest.raises(ValueError, match="api_key"):
        build_chat_request("openai", REQ, api_key=key)


def test_options_cannot_override_reserved_fields() -> None:
    req = msgspec.structs.replace(REQ, params=Parameters(options={"stream": True}))
    with pytest.raises(ValueError, match="stream"):
        build_chat_request("openai", req, api_key=None)
    req = msgspec.structs.replace(REQ, params=Parameters(options={"presence_penalty": 0.5}))
    body = msgspec.json.decode(build_chat_request("openai", req, api_key=None).body)
    assert body["presence_penalty"] == 0.5


def test_models_request_and_response() -> None:
    spec = build_models_request("openai", api_key="sk-k-123456")
    assert (spec.method, spec.path) == ("GET", "/v1/models")
    assert ("Authorization", "Bearer sk-k-123456") in spec.headers
    assert parse_models_response("openai", 200, s.OPENAI_MODELS) == ("gpt-4o-mini", "qwen2.5-0.5b")
    served = ["gpt-4o-mini", "qwen2.5-0.5b"]
    assert resolve_model("openai", "qwen2.5-0.5b", served) == "qwen2.5-0.5b"
    with pytest.raises(BackendError) as info:
        parse_models_response("openai", 401, s.OPENAI_BAD_KEY)
    assert info.value.failure is FailureClass.AUTH
    with pytest.raises(BackendError):
        parse_models_response("openai", 200, b'{"data": [{"object": "model"}]}')


def test_parse_chat_response() -> None:
    result = parse_chat_response("openai", 200, {}, s.OPENAI_CHAT)
    assert result.content == "Hello there, how may I assist you today?"
    assert result.model == "gpt-4o-mini-2024-07-18"
    assert result.finish_reason == "stop"
    assert result.usage == Usage(prompt_tokens=19, completion_tokens=10)


def test_parse_chat_response_llamacpp_timings_and_null_content() -> None:
    body = (
        b'{"model":"q","choices":[{"index":0,"message":{"role":"assistant","content":null},'
        b'"finish_reason":"tool_calls"}],"timings":{"prompt_ms":12.5,"predicted_ms":100}}'
    )
    result = parse_chat_response("openai", 200, {}, body)
    assert result.content == "" and result.usage is None
    assert result.timings is not None
    assert result.timings.prompt_eval_duration_ns == 12_500_000
    assert result.timings.eval_duration_ns == 100_000_000


@pytest.mark.parametrize(
    "body",
    [b'{"choices": []}', b'{"choices": 1}', b'{"choices":[{"message":{"content":5}}]}', b"nope"],
)
def test_parse_chat_response_malformed(body: bytes) -> None:
    with pytest.raises(BackendError) as info:
        parse_chat_response("openai", 200, {}, body)
    assert info.value.failure is FailureClass.BAD_RESPONSE


def test_parse_chat_response_error_body() -> None:
    with pytest.raises(BackendError) as info:
        parse_chat_response("openai", 400, {}, s.OPENAI_CONTEXT)
    assert info.value.failure is FailureClass.CONTEXT_OVERFLOW
    assert not info.value.retryable and info.value.health_weight == 0.0


def test_parse_chat_response_vllm_flat_error_in_a_200() -> None:
    body = b'{"object":"error","message":"model is overloaded","type":"InternalError","code":503}'
    with pytest.raises(BackendError) as info:
        parse_chat_response("openai", 200, {}, body)
    assert info.value.failure is FailureClass.SERVER_ERROR and "overloaded" in info.value.message


def test_stream_fixture() -> None:
    parser = SseStreamParser()
    chunks = parser.feed(s.OPENAI_STREAM)
    parser.end()
    assert "".join(c.content for c in chunks) == "Hello there!"
    final = chunks[-1]
    assert final.done and final.finish_reason == "stop"
    assert final.usage == Usage(prompt_tokens=9, completion_tokens=12)
    assert sum(c.done for c in chunks) == 1


def test_stream_comments_fields_crlf_and_multiline_data() -> None:
    data = (
        b": ping\r\n\r\nevent: message\r\nid: 1\r\nretry: 1000\r\n"
        b'data: {"choices":[{"index":0,\r\ndata: "delta":{"content":"Hi"}}]}\r\n\r\n'
        b"\r\n: keep-alive\r\ndata:[DONE]\r\n\r\n"
    )
    parser = SseStreamParser()
    chunks = parser.feed(data)
    parser.end()
    assert [(c.content, c.done) for c in chunks] == [("Hi", False), ("", True)]
    assert chunks[-1].usage is None


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            b'data: {"error":{"message":"CUDA error: out of memory","type":"server_error"}}\n\n',
            FailureClass.OUT_OF_MEMORY,
        ),
        (
            b'error: {"code":400,"message":"the request exceeds the available context size. '
            b'try increasing the context size","type":"invalid_request_error"}\n\ndata: [DONE]\n\n',
            FailureClass.CONTEXT_OVERFLOW,
        ),
        (b'event: error\ndata: {"message":"boom"}\n\n', FailureClass.SERVER_ERROR),
        (
            b'{"error":{"message":"Rate limit","code":"rate_limit_exceeded"}}\n',
            FailureClass.RATE_LIMITED,
        ),
        # vLLM's flat error object, mid-stream: the server failed, not the protocol
        (
            b'data: {"object":"error","message":"CUDA error: out of memory","code":500}\n\n',
            FailureClass.OUT_OF_MEMORY,
        ),
        (b'data: {"object":"error","message":"boom","code":500}\n\n', FailureClass.SERVER_ERROR),
        (b"data: {not json}\n\n", FailureClass.BAD_RESPONSE),
        (b'data: {"id": 1}\n\n', FailureClass.BAD_RESPONSE),
        (b'{"choices": []}\n', FailureClass.BAD_RESPONSE),
        (b"<html><body>Sign in</body></html>", FailureClass.BAD_RESPONSE),
    ],
)
def test_stream_errors(data: bytes, expected: FailureClass) -> None:
    with pytest.raises(BackendError) as info:
        SseStreamParser().feed(data)
    assert info.value.failure is expected


def test_stream_truncated_without_done() -> None:
    parser = SseStreamParser()
    parser.feed(s.OPENAI_STREAM.split(b"data: [DONE]")[0])
    with pytest.raises(BackendError, match=r"\[DONE\]"):
        parser.end()


def test_stream_done_without_blank_line_is_partial() -> None:
    parser = SseStreamParser()
    parser.feed(b"data: [DONE]\n")
    with pytest.raises(BackendError, match="truncated"):
        parser.end()


def test_stream_usage_absurd_is_dropped() -> None:
    data = (
        b'data: {"choices":[],"usage":{"prompt_tokens":-3,"completion_tokens":4}}\n\n'
        b"data: [DONE]\n\n"
    )
    chunks = SseStreamParser().feed(data)
    assert chunks == [chunks[-1]] and chunks[-1].done and chunks[-1].usage is None
