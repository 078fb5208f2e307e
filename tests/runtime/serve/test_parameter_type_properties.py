"""Issue 19 point 6, as a property: any JSON value in any parameter serve knows is
carried with the type the API documents, or refused with a 400 naming that field; never
an unexpected exception (a 500) and never accepted and dropped. Pure: the parsers and
the runtime's parameter check, without sockets."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from runtime._errors import InvalidRequest
from runtime._params import parameters
from runtime.serve import ServeSettings
from runtime.serve._embeddings import EmbedCall, parse_ollama_embed, parse_openai_embeddings
from runtime.serve._errors import HttpError, from_runtime_error
from runtime.serve._field_types import OLLAMA_OPTIONS, OPENAI_CHAT, SAMPLING
from runtime.serve._limits import ChatCall
from runtime.serve._ollama import parse_chat as parse_ollama
from runtime.serve._openai import parse_chat as parse_openai
from tests.runtime.serve.test_parameter_types import BASES, CHAT, with_field

SETTINGS = ServeSettings()
OPENAI_FIELDS = sorted(
    {*SAMPLING, *OPENAI_CHAT, "logprobs", "tools", "tool_choice", "response_format",
     "max_tokens", "max_completion_tokens", "stream", "kind"}
)  # fmt: skip
OLLAMA_FIELDS = sorted(
    {*(f"options.{name}" for name in (*OLLAMA_OPTIONS, "num_predict")),
     "format", "keep_alive", "think", "logprobs", "top_logprobs", "stream", "kind"}
)  # fmt: skip
OPENAI_EMBED_FIELDS = ["dimensions", "encoding_format", "kind", "user"]
OLLAMA_EMBED_FIELDS = sorted(
    {*(f"options.{name}" for name in OLLAMA_OPTIONS), "dimensions", "truncate", "keep_alive",
     "kind"}
)  # fmt: skip
LIKELY = st.sampled_from(
    ["json", "5m", "high", "auto", "none", "END", ["END"], {"type": "json_object"},
     {"42": 1}, {"include_usage": True}, {"team": "x"}, 0.5, 1, 20, True, -1, "base64", ""]
)  # fmt: skip
"""Right values for some fields, so that the accepting paths are explored too."""
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)

NUMBERS = {"temperature", "top_p", "frequency_penalty", "presence_penalty", "repeat_penalty",
           "min_p", "typical_p", "tfs_z", "mirostat_tau", "mirostat_eta"}  # fmt: skip
INTEGERS = {"top_k", "seed", "top_logprobs", "n", "max_tokens", "max_completion_tokens",
            "num_predict", "num_ctx", "num_batch", "num_gpu", "main_gpu", "num_thread",
            "num_keep", "repeat_last_n", "mirostat", "dimensions"}  # fmt: skip
BOOLEANS = {"logprobs", "parallel_tool_calls", "store", "stream", "penalize_newline", "numa",
            "low_vram", "f16_kv", "logits_all", "vocab_only", "use_mmap", "use_mlock",
            "truncate"}  # fmt: skip
STRINGS = {"user", "service_tier", "reasoning_effort", "kind", "encoding_format"}
OBJECTS = {"logit_bias", "metadata", "prediction", "audio", "web_search_options",
           "stream_options", "response_format"}  # fmt: skip
OTHERS: dict[str, Any] = {
    "stop": lambda v: isinstance(v, str) or all(isinstance(s, str) for s in v),
    "modalities": lambda v: isinstance(v, list) and all(isinstance(s, str) for s in v),
    "tools": lambda v: isinstance(v, list),
    "tool_choice": lambda v: isinstance(v, str | dict),
    "format": lambda v: v in ("", "json") or isinstance(v, dict),  # "": no format
    "keep_alive": lambda v: isinstance(v, str | int | float) and not isinstance(v, bool),
    "think": lambda v: v in (True, False, "high", "medium", "low"),
}
"""The test's own idea of each field's JSON type (not serve's tables)."""


def right_type(field: str, value: Any) -> bool:
    """Whether ``value`` has the JSON type the API documents for ``field``."""
    name = field.removeprefix("options.")
    if name in NUMBERS:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if name in INTEGERS:
        integral = isinstance(value, float) and value.is_integer()
        return integral or (isinstance(value, int) and not isinstance(value, bool))
    if name in BOOLEANS:
        return isinstance(value, bool)
    if name in STRINGS:
        return isinstance(value, str)
    if name in OBJECTS:
        return isinstance(value, dict)
    return bool(OTHERS[name](value))


def test_every_field_has_a_type_in_the_oracle() -> None:
    known = NUMBERS | INTEGERS | BOOLEANS | STRINGS | OBJECTS | set(OTHERS)
    fields = OPENAI_FIELDS + OLLAMA_FIELDS + OPENAI_EMBED_FIELDS + OLLAMA_EMBED_FIELDS
    assert {f.removeprefix("options.") for f in fields} <= known


def _carried(call: ChatCall, route: str, field: str) -> tuple[bool, Any]:
    """Where an accepted ``field`` went in ``call``: (found, the value carried)."""
    params, options = call.params, call.params.get("options", {})
    name = field.removeprefix("options.")
    if name in ("stream", "kind"):
        return True, getattr(call, name)
    if name in ("max_tokens", "max_completion_tokens", "num_predict"):
        return "max_tokens" in params, params.get("max_tokens")
    if route == "/api/chat" and field == "format":
        return "response_format" in params, None  # translated to OpenAI's shape
    if name in params and (route == "/v1/chat/completions" or name in SAMPLING or name in
                           ("logprobs", "top_logprobs")):  # fmt: skip
        return True, params[name]
    return name in options, options.get(name)


def _check_one(route: str, field: str, value: Any) -> None:
    parse = parse_openai if route == "/v1/chat/completions" else parse_ollama
    try:
        call = parse(with_field(CHAT, field, value), SETTINGS)
        parameters(call.params)
    except HttpError as exc:
        assert exc.status == 400 and exc.param is not None, exc
        assert exc.param == field or exc.param.startswith(field + "."), (exc.param, field)
        return
    except InvalidRequest as exc:  # deep checks of tools/response_format are the runtime's
        error = from_runtime_error(exc, now=0.0)
        assert error is not None and error.status == 400, exc
        assert route.startswith("/v1/") and error.param is not None, exc
        assert error.param.startswith(field), (error.param, field)
        return
    assert value is None or right_type(field, value), f"{field}={value!r:.60} was accepted"
    if value is None or field in ("n", "stream_options", "metadata") or value == "":
        return  # absent; n is 1; stream_options and metadata: see the example tests
    if field == "options.num_predict" and value < 0:
        return  # Ollama's "no limit"
    found, carried = _carried(call, route, field)
    assert found, f"{field}={value!r} was accepted and dropped"
    if carried is not None:
        assert carried == value, (field, value, carried)


@settings(max_examples=300, deadline=None)
@given(field=st.sampled_from(OPENAI_FIELDS), value=LIKELY | JSON_VALUES)
def test_any_json_in_an_openai_field_is_carried_or_refused_naming_it(
    field: str, value: Any
) -> None:
    _check_one("/v1/chat/completions", field, value)


@settings(max_examples=300, deadline=None)
@given(field=st.sampled_from(OLLAMA_FIELDS), value=LIKELY | JSON_VALUES)
def test_any_json_in_an_ollama_field_is_carried_or_refused_naming_it(
    field: str, value: Any
) -> None:
    _check_one("/api/chat", field, value)


def _check_embed(route: str, field: str, value: Any) -> None:
    parse = parse_openai_embeddings if route == "/v1/embeddings" else parse_ollama_embed
    try:
        call: EmbedCall = parse(with_field(BASES[route], field, value))
    except HttpError as exc:
        assert exc.status == 400 and exc.param == field, (exc.param, field)
        return
    assert value is None or right_type(field, value), f"{field}={value!r:.60} was accepted"
    if value is None:
        return
    name = field.removeprefix("options.")
    carried = {
        "dimensions": call.dimensions,
        "encoding_format": call.encoding,
        "kind": call.kind,
    }.get(name, call.options.get(name))
    assert carried == value, f"{field}={value!r:.60} was accepted and dropped"


@settings(max_examples=300, deadline=None)
@given(field=st.sampled_from(OPENAI_EMBED_FIELDS), value=LIKELY | JSON_VALUES)
def test_any_json_in_an_openai_embeddings_field_is_carried_or_refused(
    field: str, value: Any
) -> None:
    _check_embed("/v1/embeddings", field, value)


@settings(max_examples=300, deadline=None)
@given(field=st.sampled_from(OLLAMA_EMBED_FIELDS), value=LIKELY | JSON_VALUES)
def test_any_json_in_an_ollama_embed_field_is_carried_or_refused(field: str, value: Any) -> None:
    _check_embed("/api/embed", field, value)
