"""``response_format`` (structured output) on a real llama.cpp server, tiny random model.

llama.cpp turns ``json_schema`` / ``json_object`` into a GBNF grammar that masks the
sampler, so even random weights must produce JSON of the right shape. Sampling is
greedy (``temperature: 0``) and seeded, so each answer is deterministic; a second set
of requests with ``temperature: 1`` shows the shape does not depend on the sampler.
See NOTES.md ("Structured output") for what was observed and why the schemas are bounded.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.real_backend.checks import (
    CHOICE_SCHEMA,
    JSON_OBJECT_FORMAT,
    PERSON_MAX_TOKENS,
    PERSON_SCHEMA,
    assert_valid,
    json_schema_format,
    validate_against_schema,
)
from tests.real_backend.server import LlamaServer

pytestmark = pytest.mark.real_backend

ALIAS = "tiny"
PROMPTS = ["hello world", "what is your name", "x", "the answer to the question is", "ok"]


def _chat(server: LlamaServer, prompt: str = "hello world", **body: Any) -> httpx.Response:
    payload: dict[str, Any] = {
        "model": ALIAS,
        "messages": [{"role": "user", "content": prompt}],
        "temperature": 0,
        "seed": 1,
    }
    payload.update(body)
    with httpx.Client(timeout=30.0, trust_env=False) as client:
        return client.post(f"{server.url}/v1/chat/completions", json=payload)


def _answer(response: httpx.Response) -> tuple[str, str]:
    """(content, finish_reason) of a 200 non-streaming chat response."""
    assert response.status_code == 200, response.text
    [choice] = response.json()["choices"]
    return choice["message"]["content"], choice["finish_reason"]


# --------------------------------------------------------------------------- json_schema


@pytest.mark.parametrize("prompt", PROMPTS)
def test_json_schema_answer_parses_and_validates(llama_server: LlamaServer, prompt: str) -> None:
    response_format = json_schema_format(PERSON_SCHEMA, name="person")
    first = _chat(
        llama_server, prompt, response_format=response_format, max_tokens=PERSON_MAX_TOKENS
    )
    content, finish = _answer(first)
    # the grammar closes the object and then only allows EOS: a natural stop
    assert finish == "stop"
    obj = json.loads(content)
    assert_valid(obj, PERSON_SCHEMA)
    assert set(obj) == {"name", "age"}
    assert isinstance(obj["name"], str) and len(obj["name"]) <= 8
    assert type(obj["age"]) is int and 0 <= obj["age"] <= 150
    # greedy + seeded: the same request gives the same bytes (prompt cache or not)
    again = _chat(
        llama_server, prompt, response_format=response_format, max_tokens=PERSON_MAX_TOKENS
    )
    assert _answer(again) == (content, finish)


@pytest.mark.parametrize("seed", [1, 7, 1234])
def test_json_schema_holds_with_random_sampling(llama_server: LlamaServer, seed: int) -> None:
    r = _chat(
        llama_server,
        "what is your name",
        response_format=json_schema_format(PERSON_SCHEMA),
        max_tokens=PERSON_MAX_TOKENS,
        temperature=1.0,
        seed=seed,
    )
    content, finish = _answer(r)
    assert finish == "stop"
    assert_valid(json.loads(content), PERSON_SCHEMA)


def test_json_schema_enum_and_boolean(llama_server: LlamaServer) -> None:
    content, finish = _answer(
        _chat(llama_server, response_format=json_schema_format(CHOICE_SCHEMA), max_tokens=100)
    )
    assert finish == "stop"
    obj = json.loads(content)
    assert_valid(obj, CHOICE_SCHEMA)
    assert obj["color"] in {"red", "green", "blue"} and isinstance(obj["ok"], bool)


def test_json_schema_strict_flag_and_llamacpp_schema_shortcut(llama_server: LlamaServer) -> None:
    """``strict: true`` is accepted; so is llama.cpp's ``{"type":"json_object","schema":…}``."""
    strict: dict[str, Any] = {
        "type": "json_schema",
        "json_schema": {"name": "p", "strict": True, "schema": PERSON_SCHEMA},
    }
    shortcut: dict[str, Any] = {"type": "json_object", "schema": PERSON_SCHEMA}
    answers = []
    for response_format in (strict, shortcut):
        content, finish = _answer(
            _chat(llama_server, response_format=response_format, max_tokens=PERSON_MAX_TOKENS)
        )
        assert finish == "stop"
        assert_valid(json.loads(content), PERSON_SCHEMA)
        answers.append(content)
    assert answers[0] == answers[1]  # same grammar, same greedy path


def test_json_schema_streaming_deltas_concatenate_to_valid_json(
    llama_server: LlamaServer,
) -> None:
    payload: dict[str, Any] = {
        "model": ALIAS,
        "messages": [{"role": "user", "content": "hello world"}],
        "temperature": 0,
        "seed": 1,
        "max_tokens": PERSON_MAX_TOKENS,
        "stream": True,
        "response_format": json_schema_format(PERSON_SCHEMA),
    }
    with httpx.Client(timeout=30.0, trust_env=False) as client:
        r = client.post(f"{llama_server.url}/v1/chat/completions", json=payload)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    lines = [ln[len("data: ") :] for ln in r.text.splitlines() if ln.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    chunks = [json.loads(ln) for ln in lines[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert_valid(json.loads(text), PERSON_SCHEMA)
    # the stream carries exactly the non-streamed answer
    assert (text, "stop") == _answer(
        _chat(
            llama_server,
            response_format=json_schema_format(PERSON_SCHEMA),
            max_tokens=PERSON_MAX_TOKENS,
        )
    )


def test_unbounded_string_rambles_until_length(llama_server: LlamaServer) -> None:
    """Why ``PERSON_SCHEMA`` has ``maxLength``: without it the model never closes the string."""
    unbounded = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
    }
    content, finish = _answer(
        _chat(llama_server, response_format=json_schema_format(unbounded), max_tokens=64)
    )
    assert finish == "length"
    assert content.startswith('{ "name" : "')
    with pytest.raises(json.JSONDecodeError):
        json.loads(content)


def test_truncated_structured_answer_is_not_json(llama_server: LlamaServer) -> None:
    """``finish_reason: "length"`` under a grammar means the content is cut-off JSON.

    The tiny model opens with llama.cpp's optional ```` ```json ```` fence; until the
    fence is complete the partial content shows it (here ``"```js"``). A finished answer
    never contains the fence: the server strips it (see the tests above).
    """
    content, finish = _answer(
        _chat(llama_server, response_format=json_schema_format(PERSON_SCHEMA), max_tokens=5)
    )
    assert finish == "length"
    assert content == "```js"
    with pytest.raises(json.JSONDecodeError):
        json.loads(content)


# --------------------------------------------------------------------------- json_object


@pytest.mark.parametrize("prompt", ["hello world", "x", "ok"])
def test_json_object_answer_is_an_object(llama_server: LlamaServer, prompt: str) -> None:
    content, finish = _answer(
        _chat(llama_server, prompt, response_format=JSON_OBJECT_FORMAT, max_tokens=200)
    )
    assert finish == "stop"
    obj = json.loads(content)
    assert isinstance(obj, dict)
    assert_valid(obj, {"type": "object"})


def test_json_object_can_ramble_until_length(llama_server: LlamaServer) -> None:
    """Plain ``json_object`` is unbounded: for this prompt the greedy path opens a key
    string and never closes it, so the answer is cut off and is not JSON."""
    content, finish = _answer(
        _chat(
            llama_server,
            "the answer to the question is",
            response_format=JSON_OBJECT_FORMAT,
            max_tokens=200,
        )
    )
    assert finish == "length"
    assert content.startswith('{"')
    with pytest.raises(json.JSONDecodeError):
        json.loads(content)


# --------------------------------------------------------------------------- errors


def test_unknown_response_format_type_is_400(llama_server: LlamaServer) -> None:
    r = _chat(llama_server, response_format={"type": "xml"}, max_tokens=2)
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"] == (
        'response_format type must be one of "text" or "json_object", but got: xml'
    )


def test_unresolvable_schema_is_400(llama_server: LlamaServer) -> None:
    schema = {"type": "object", "properties": {"a": {"$ref": "#/nope"}}, "required": ["a"]}
    r = _chat(llama_server, response_format=json_schema_format(schema), max_tokens=2)
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert "cannot resolve $ref #/nope" in error["message"]


def test_text_response_format_is_plain_generation(llama_server: LlamaServer) -> None:
    content, finish = _answer(_chat(llama_server, response_format={"type": "text"}, max_tokens=4))
    assert finish == "length"
    with pytest.raises(json.JSONDecodeError):
        json.loads(content)


# --------------------------------------------------------------------------- the checker


@pytest.mark.parametrize(
    ("obj", "violations"),
    [
        ({"name": "ab", "age": 3}, 0),
        ({"name": "ab"}, 1),  # required age missing
        ({"name": "ab", "age": "3"}, 1),  # wrong type
        ({"name": "ab", "age": True}, 1),  # bool is not an integer in JSON
        ({"name": "ab", "age": 3.5}, 1),
        ({"name": "123456789", "age": 3}, 1),  # maxLength
        ({"name": "ab", "age": 151}, 1),  # maximum
        ({"name": "ab", "age": -1}, 1),  # minimum
        ({"name": "ab", "age": 3, "x": 1}, 1),  # additionalProperties false
        ({"name": 1, "age": None}, 2),
        (["name", "age"], 1),  # not an object
    ],
)
def test_validate_against_schema_person(obj: Any, violations: int) -> None:
    assert len(validate_against_schema(obj, PERSON_SCHEMA)) == violations


def test_validate_against_schema_enum_items_and_unknown_keywords() -> None:
    assert validate_against_schema({"color": "red", "ok": False}, CHOICE_SCHEMA) == []
    assert len(validate_against_schema({"color": "pink", "ok": 0}, CHOICE_SCHEMA)) == 2
    array_schema = {"type": "array", "items": {"type": ["integer", "null"]}}
    assert validate_against_schema([1, None, 2], array_schema) == []
    assert validate_against_schema([1, "a"], array_schema) == [
        "$[1]: expected type ['integer', 'null'], got str 'a'"
    ]
    with pytest.raises(ValueError, match="unsupported schema keywords"):
        validate_against_schema({}, {"type": "object", "patternProperties": {}})
