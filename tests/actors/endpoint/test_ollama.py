"""Ollama: request building, /api/tags, non-stream and NDJSON stream parsing."""

from __future__ import annotations

import msgspec
import pytest

from actors.endpoint import (
    BackendError,
    ChatRequest,
    FailureClass,
    Message,
    NdjsonStreamParser,
    Parameters,
    Timings,
    Usage,
    build_chat_request,
    build_models_request,
    normalize_ollama_model,
    ollama_model_matches,
    parse_chat_response,
    parse_models_response,
    resolve_model,
)
from actors.endpoint._classify import HeadersLike
from tests.actors.endpoint import _samples as s

REQ = ChatRequest(
    model="llama3.2",
    messages=(Message(role="user", content="hi"),),
    params=Parameters(max_tokens=64, temperature=0.2, stop=("###",), options={"num_ctx": 8192}),
)


def test_build_chat_request() -> None:
    spec = build_chat_request("ollama", REQ, api_key="sk-never-sent-123")
    assert (spec.method, spec.path) == ("POST", "/api/chat")
    body = msgspec.json.decode(spec.body)
    assert body == {
        "model": "llama3.2",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": False,
        "options": {"num_ctx": 8192, "num_predict": 64, "temperature": 0.2, "stop": ["###"]},
    }
    # Ollama has no auth: the key goes nowhere.
    assert b"sk-never" not in spec.body
    assert all("sk-never" not in v for _, v in spec.headers)


def test_build_streaming_request_without_options() -> None:
    req = ChatRequest(model="m", messages=(), stream=True)
    body = msgspec.json.decode(build_chat_request("ollama", req, api_key=None).body)
    assert body == {"model": "m", "messages": [], "stream": True}


def test_models_request_and_response() -> None:
    spec = build_models_request("ollama")
    assert (spec.method, spec.path) == ("GET", "/api/tags")
    assert parse_models_response("ollama", 200, s.OLLAMA_TAGS) == ("llama3:latest", "mistral:7b")


@pytest.mark.parametrize("body", [b"[]", b'{"models": 3}', b'{"models": [{"size": 1}]}', b"<"])
def test_models_response_malformed(body: bytes) -> None:
    with pytest.raises(BackendError) as info:
        parse_models_response("ollama", 200, body)
    assert info.value.failure is FailureClass.BAD_RESPONSE


def test_models_response_http_error() -> None:
    with pytest.raises(BackendError) as info:
        parse_models_response("ollama", 503, b"", headers={"retry-after": "4"})
    assert info.value.failure is FailureClass.SERVER_ERROR
    assert info.value.retry_after == 4.0


@pytest.mark.parametrize(
    ("requested", "served", "expected"),
    [
        ("llama3", ["mistral:7b", "llama3:latest"], "llama3:latest"),
        ("llama3:latest", ["llama3"], "llama3"),
        ("Llama3", ["llama3:latest"], "llama3:latest"),
        ("library/llama3", ["llama3:latest"], "llama3:latest"),
        ("registry.ollama.ai/library/llama3:latest", ["llama3:latest"], "llama3:latest"),
        ("llama3:8b", ["llama3:latest"], None),
        ("me/llama3", ["llama3:latest"], None),
        ("localhost:5000/me/m", ["localhost:5000/me/m:latest"], "localhost:5000/me/m:latest"),
    ],
)
def test_ollama_model_matching(requested: str, served: list[str], expected: str | None) -> None:
    assert resolve_model("ollama", requested, served) == expected


def test_normalize_and_match() -> None:
    assert normalize_ollama_model("llama3") == "registry.ollama.ai/library/llama3:latest"
    assert ollama_model_matches("llama3", "llama3:latest")
    assert not ollama_model_matches("llama3.2", "llama3:latest")
    assert resolve_model("openai", "llama3", ["llama3:latest"]) is None


def test_parse_chat_response() -> None:
    result = parse_chat_response("ollama", 200, {"content-type": "application/json"}, s.OLLAMA_CHAT)
    assert result.content == "Hello! How are you today?"
    assert result.model == "llama3.2"
    assert result.finish_reason == "stop"
    assert result.usage == Usage(prompt_tokens=26, completion_tokens=298)
    assert result.usage.total_tokens == 324
    assert result.timings == Timings(
        total_duration_ns=5191566416,
        load_duration_ns=2154458,
        prompt_eval_duration_ns=383809000,
        eval_duration_ns=4799921000,
    )


def test_parse_chat_response_errors() -> None:
    with pytest.raises(BackendError) as info:
        parse_chat_response("ollama", 404, {}, s.OLLAMA_MODEL_MISSING)
    assert info.value.failure is FailureClass.MODEL_NOT_FOUND
    with pytest.raises(BackendError) as info:
        parse_chat_response("ollama", 200, {}, s.OLLAMA_OOM)  # error object with status 200
    assert info.value.failure is FailureClass.OUT_OF_MEMORY
    with pytest.raises(BackendError) as info:
        parse_chat_response("ollama", 200, {"Content-Type": "text/html"}, b"<html>login</html>")
    assert info.value.failure is FailureClass.BAD_RESPONSE
    assert "HTML" in info.value.message and "login" in info.value.message
    with pytest.raises(BackendError, match="larger than"):
        parse_chat_response("ollama", 200, {}, s.OLLAMA_CHAT, max_bytes=100)
    with pytest.raises(BackendError, match="message"):
        parse_chat_response("ollama", 200, {}, b'{"model": "m", "done": false}')


@pytest.mark.parametrize(
    "headers",
    [
        (("content-type", "text/html; charset=utf-8"),),  # what the transport passes
        {"Content-Type": "TEXT/HTML"},
        [("Content-Type", "text/html")],
    ],
)
def test_html_content_type_with_a_json_body_is_refused(headers: HeadersLike) -> None:
    with pytest.raises(BackendError) as info:
        parse_chat_response("ollama", 200, headers, s.OLLAMA_CHAT)
    assert info.value.failure is FailureClass.BAD_RESPONSE and "HTML" in info.value.message
    # Without the content type (an empty header set) the same body parses.
    assert parse_chat_response("ollama", 200, (), s.OLLAMA_CHAT).content


def test_stream_fixture() -> None:
    parser = NdjsonStreamParser()
    chunks = parser.feed(s.OLLAMA_STREAM)
    parser.end()
    assert [c.content for c in chunks] == ["Hello", " there!", ""]
    final = chunks[-1]
    assert final.done and final.finish_reason == "stop"
    assert final.usage == Usage(prompt_tokens=26, completion_tokens=282)
    assert final.timings is not None and final.timings.eval_duration_ns == 4535599000
    assert not any(c.done for c in chunks[:-1])


def test_stream_error_line_in_200_stream() -> None:
    parser = NdjsonStreamParser()
    first = s.OLLAMA_STREAM.split(b"\n")[0] + b"\n"
    assert parser.feed(first)[0].content == "Hello"
    with pytest.raises(BackendError) as info:
        parser.feed(b'{"error":"CUDA error: out of memory"}\n')
    assert info.value.failure is FailureClass.OUT_OF_MEMORY
    # A failed parser stays failed.
    with pytest.raises(BackendError):
        parser.feed(b"{}\n")
    with pytest.raises(BackendError):
        parser.end()


def test_stream_truncated_without_done() -> None:
    parser = NdjsonStreamParser()
    parser.feed(s.OLLAMA_STREAM.split(b"\n")[0] + b"\n")
    with pytest.raises(BackendError, match="done") as info:
        parser.end()
    assert info.value.failure is FailureClass.BAD_RESPONSE


def test_stream_ends_mid_line() -> None:
    parser = NdjsonStreamParser()
    parser.feed(s.OLLAMA_STREAM[:-30])
    with pytest.raises(BackendError, match="middle of a line"):
        parser.end()


def test_stream_crlf_blank_lines_and_data_after_done() -> None:
    data = b"\r\n" + s.OLLAMA_STREAM.replace(b"\n", b"\r\n\r\n") + b"garbage after done\n"
    parser = NdjsonStreamParser()
    chunks = parser.feed(data)
    parser.end()
    assert [c.content for c in chunks] == ["Hello", " there!", ""]


def test_stream_html_page_with_status_200() -> None:
    with pytest.raises(BackendError, match="HTML"):
        NdjsonStreamParser().feed(b"  \n<!DOCTYPE html><html>proxy</html>")
    with pytest.raises(BackendError, match="HTML"):
        NdjsonStreamParser(content_type="text/html; charset=utf-8").feed(b"oops")


@pytest.mark.parametrize(
    ("line", "usage"),
    [
        (b'{"done":true,"eval_count":5}', Usage(prompt_tokens=0, completion_tokens=5)),
        (b'{"done":true}', None),
        (b'{"done":true,"prompt_eval_count":-1,"eval_count":5}', None),
        (b'{"done":true,"prompt_eval_count":3,"eval_count":10000000000}', None),
        (b'{"done":true,"prompt_eval_count":"3","eval_count":5}', None),
        (b'{"done":true,"prompt_eval_count":3.5,"eval_count":5}', None),
        (b'{"done":true,"prompt_eval_count":true,"eval_count":5}', None),
    ],
)
def test_stream_usage_missing_negative_or_absurd(line: bytes, usage: Usage | None) -> None:
    chunks = NdjsonStreamParser().feed(line + b"\n")
    assert chunks[-1].done
    assert chunks[-1].usage == usage


def test_unknown_api_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown api"):
        build_models_request("anthropic")
