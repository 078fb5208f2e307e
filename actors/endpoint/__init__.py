"""One backend endpoint: wire formats, stream parsers, failure classes, and its actor.

Pure (sans-IO: fed with bytes, returning values or raising :class:`BackendError`):
``_api``, ``_ollama``, ``_openai``, ``_streams``, ``_classify``, ``_types`` and the
slot state ``_slots``. The shells: ``EndpointActor`` (``_actor``), the single owner of
one endpoint's slots and counters; ``CallHandle`` (``_handle``), which runs one
admitted call in the caller's task; ``EndpointTransport`` (``_transport``, ``_clocks``),
which moves the bytes with httpx. The chat wire translation is ``_wire_chat`` (every
parameter translated or refused with ``UnsupportedParameter``), tool calls in replies
``_wire_tools``, embeddings ``_wire_embed``.
"""

from __future__ import annotations

from actors.endpoint._actor import (
    Call,
    EndpointActor,
    EndpointMessage,
    GetEndpointStatistics,
    SetConcurrency,
    call_chat,
    call_embed,
    call_list_models,
)
from actors.endpoint._api import (
    APIS,
    build_chat_request,
    build_embed_request,
    build_models_request,
    check_chat_request,
    new_stream_parser,
    parse_chat_response,
    parse_embed_response,
    parse_models_response,
    resolve_model,
)
from actors.endpoint._classify import (
    Api,
    BackendError,
    FailureClass,
    HeadersLike,
    classify_error_payload,
    classify_http_error,
    parse_retry_after,
)
from actors.endpoint._content import (
    ContentPart,
    ImagePart,
    ResponseFormat,
    TextPart,
    ToolCall,
    UnsupportedParameter,
    text_of,
)
from actors.endpoint._deadlines import Deadlines
from actors.endpoint._discover import (
    DEFAULT_MAX_CONCURRENCY,
    DISCOVERED_MAX_CONCURRENCY,
    discover_concurrency,
)
from actors.endpoint._facts import LlamaProps, context_from_options, parse_llama_props
from actors.endpoint._handle import AbandonCall, CallHandle, EndCall
from actors.endpoint._metrics import CallResult, CallTimings, EmbedCallResult, EndpointStatistics
from actors.endpoint._ollama import NdjsonStreamParser, normalize_ollama_model, ollama_model_matches
from actors.endpoint._openai import SseStreamParser
from actors.endpoint._redact import redact, snippet
from actors.endpoint._slots import EndpointState
from actors.endpoint._streams import DEFAULT_MAX_LINE_BYTES, DEFAULT_MAX_TOTAL_BYTES, StreamParser
from actors.endpoint._transport import EndpointTransport
from actors.endpoint._types import (
    MAX_SANE_TOKENS,
    ChatRequest,
    ChatResult,
    Chunk,
    EmbedRequest,
    EmbedResult,
    HttpRequestSpec,
    Message,
    OptionValue,
    Parameters,
    Timings,
    Usage,
    sanitize_usage,
)
from actors.endpoint._windows import fetch_context_lengths

__all__ = [
    "APIS",
    "Api",
    "BackendError",
    "CallResult",
    "ChatRequest",
    "ChatResult",
    "Chunk",
    "DEFAULT_MAX_LINE_BYTES",
    "DEFAULT_MAX_TOTAL_BYTES",
    "Deadlines",
    "AbandonCall",
    "Call",
    "CallHandle",
    "EndCall",
    "EndpointActor",
    "EndpointMessage",
    "EndpointState",
    "EndpointTransport",
    "LlamaProps",
    "context_from_options",
    "fetch_context_lengths",
    "parse_llama_props",
    "GetEndpointStatistics",
    "SetConcurrency",
    "CallTimings",
    "DEFAULT_MAX_CONCURRENCY",
    "DISCOVERED_MAX_CONCURRENCY",
    "discover_concurrency",
    "call_chat",
    "call_embed",
    "call_list_models",
    "EmbedCallResult",
    "build_embed_request",
    "check_chat_request",
    "parse_embed_response",
    "EndpointStatistics",
    "FailureClass",
    "HeadersLike",
    "HttpRequestSpec",
    "MAX_SANE_TOKENS",
    "Message",
    "NdjsonStreamParser",
    "OptionValue",
    "Parameters",
    "ContentPart",
    "ImagePart",
    "ResponseFormat",
    "TextPart",
    "ToolCall",
    "UnsupportedParameter",
    "text_of",
    "EmbedRequest",
    "EmbedResult",
    "SseStreamParser",
    "StreamParser",
    "Timings",
    "Usage",
    "build_chat_request",
    "build_models_request",
    "classify_error_payload",
    "classify_http_error",
    "new_stream_parser",
    "normalize_ollama_model",
    "ollama_model_matches",
    "parse_chat_response",
    "parse_models_response",
    "parse_retry_after",
    "redact",
    "resolve_model",
    "sanitize_usage",
    "snippet",
]
