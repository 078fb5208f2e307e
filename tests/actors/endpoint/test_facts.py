"""What backends say about their context windows and slots (pure parsers)."""

from __future__ import annotations

import json

import pytest

from actors.endpoint import LlamaProps, parse_llama_props
from actors.endpoint._facts import (
    context_from_options,
    ollama_show_request,
    parse_model_windows,
    parse_ollama_show,
    props_request,
)


def body(obj: object) -> bytes:
    return json.dumps(obj).encode()


def test_llama_props_reads_the_slot_context_and_the_slots() -> None:
    # as observed on the real server with --ctx 1024 --parallel 2 (NOTES.md)
    observed = {"default_generation_settings": {"n_ctx": 512}, "total_slots": 2}
    assert parse_llama_props(body(observed)) == LlamaProps(n_ctx=512, total_slots=2)
    assert parse_llama_props(body({"n_ctx": 4096})) == LlamaProps(n_ctx=4096)  # newer builds
    nested_wins = {"n_ctx": 8192, "default_generation_settings": {"n_ctx": 4096}}
    assert parse_llama_props(body(nested_wins)).n_ctx == 4096


@pytest.mark.parametrize(
    "raw",
    [b"", b"not json", b"[]", body({"n_ctx": "big"}), body({"n_ctx": True}), body({"n_ctx": 0}),
     body({"n_ctx": -5}), body({"n_ctx": 10**12}), body({"default_generation_settings": 3})],
)  # fmt: skip
def test_llama_props_of_another_shape_are_unknown(raw: bytes) -> None:
    assert parse_llama_props(raw) == LlamaProps()


def test_model_windows_from_v1_models_metadata() -> None:
    listing = {
        "data": [
            {"id": "tiny", "meta": {"n_ctx": 256, "n_ctx_train": 2048}},  # llama.cpp
            {"id": "trained", "meta": {"n_ctx_train": 2048}},
            {"id": "vllm", "max_model_len": 32768},
            {"id": "router", "context_length": 131072},
            {"id": "plain"},
            {"no": "id"},
            "junk",
        ]
    }
    assert parse_model_windows(body(listing)) == {
        "tiny": 256,
        "trained": 2048,
        "vllm": 32768,
        "router": 131072,
    }
    assert parse_model_windows(b"{}") == {} and parse_model_windows(b"nope") == {}


def test_ollama_show_prefers_the_modelfile_num_ctx_over_the_training_context() -> None:
    info = {"general.architecture": "llama", "llama.context_length": 131072}
    assert parse_ollama_show(body({"model_info": info, "parameters": 'stop "x"'})) == 131072
    with_num_ctx = {
        "model_info": info,
        "parameters": 'stop "x"\nnum_ctx                        8192',
    }
    assert parse_ollama_show(body(with_num_ctx)) == 8192
    other_arch = {"model_info": {"qwen2.context_length": 32768}}
    assert parse_ollama_show(body(other_arch)) == 32768
    assert parse_ollama_show(body({"model_info": {}})) is None
    assert parse_ollama_show(b"<html>") is None


def test_options_num_ctx_and_the_requests() -> None:
    assert context_from_options({"num_ctx": 4096}) == 4096
    assert context_from_options({"num_ctx": "4096"}) is None
    assert context_from_options({}) is None
    show = ollama_show_request("llama3")
    assert (show.method, show.path, json.loads(show.body)) == (
        "POST",
        "/api/show",
        {"model": "llama3"},
    )
    keyed = props_request(api_key="sk-test")
    assert ("Authorization", "Bearer sk-test") in keyed.headers
    assert all(name != "Authorization" for name, _ in props_request().headers)
