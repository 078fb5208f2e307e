"""Failure classes and the classification of backend errors.

The tree::

    BackendError          one classified failure of one backend call; ``.failure`` says
                          which FailureClass, ``.retryable`` and ``.health_weight`` what
                          the router and the health actor do about it

Pure: the caller passes the status, headers, body and ``now``; nothing here does I/O or
reads a clock.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal, TypeAlias

import msgspec

from actors.endpoint._redact import redact, snippet
from actors.endpoint._retry_after import parse_retry_after
from events import LLMRuntimeError

__all__ = [
    "Api",
    "BackendError",
    "FailureClass",
    "HeadersLike",
    "classify_error_payload",
    "classify_http_error",
    "parse_retry_after",
]

Api: TypeAlias = Literal["ollama", "openai"]
HeadersLike: TypeAlias = Mapping[str, str] | Iterable[tuple[str, str]]

# Failure class table: (retryable, health_weight, permanent).
#
# retryable: is trying again (on this or another deployment) likely to help?
# health_weight: how much one failure counts against the deployment's health (1 = a full
#   failure); 0 means "the request's fault, or not a fault at all": never quarantine.
# permanent: the deployment is marked failed until an operator acts (reset_health).
#
# class               retry weight  why
# timeout_connect     yes   1.0     host down/unreachable: the deployment's problem
# timeout_first_byte  yes   1.0     stuck or overloaded server
# timeout_idle        yes   1.0     generation stalled mid-stream
# timeout_total       yes   0.5     may be the request's size (huge max_tokens), may be slow
# connection          yes   1.0     refused/reset: process down or crashed
# model_not_found     no    0.0     the request named a model this deployment lacks; the
#                                   catalog refreshes instead of health punishing it
# out_of_memory       yes   1.0     another deployment may fit the model; this one cannot
#                                   right now, so it should cool down for this model
# context_overflow    no    0.0     the prompt is too long for the model: request's fault,
#                                   same everywhere with the same context size
# rate_limited        yes   0.0     a healthy backend doing its job; the router cools the
#                                   deployment down with retry_after instead
# auth                no    1.0     wrong/missing key: fails every call until fixed (permanent)
# server_error        yes   1.0     5xx: the deployment's problem
# bad_response        yes   1.0     garbage, HTML from a proxy, truncated stream
# generation_error    no    0.0     other 4xx: the backend rejected this request's content
# unknown             yes   0.5     unexplained: retry once elsewhere, count half
_TABLE: dict[str, tuple[bool, float, bool]] = {
    "timeout_connect": (True, 1.0, False),
    "timeout_first_byte": (True, 1.0, False),
    "timeout_idle": (True, 1.0, False),
    "timeout_total": (True, 0.5, False),
    "connection": (True, 1.0, False),
    "model_not_found": (False, 0.0, False),
    "out_of_memory": (True, 1.0, False),
    "context_overflow": (False, 0.0, False),
    "rate_limited": (True, 0.0, False),
    "auth": (False, 1.0, True),
    "server_error": (True, 1.0, False),
    "bad_response": (True, 1.0, False),
    "generation_error": (False, 0.0, False),
    "unknown": (True, 0.5, False),
}


class FailureClass(enum.Enum):
    """Why a backend call failed; see the table above for retryable/health_weight."""

    TIMEOUT_CONNECT = "timeout_connect"
    TIMEOUT_FIRST_BYTE = "timeout_first_byte"
    TIMEOUT_IDLE = "timeout_idle"
    TIMEOUT_TOTAL = "timeout_total"
    CONNECTION = "connection"
    MODEL_NOT_FOUND = "model_not_found"
    OUT_OF_MEMORY = "out_of_memory"
    CONTEXT_OVERFLOW = "context_overflow"
    RATE_LIMITED = "rate_limited"
    AUTH = "auth"
    SERVER_ERROR = "server_error"
    BAD_RESPONSE = "bad_response"
    GENERATION_ERROR = "generation_error"
    UNKNOWN = "unknown"

    @property
    def retryable(self) -> bool:
        """Whether another attempt (same or other deployment) may succeed."""
        return _TABLE[self.value][0]

    @property
    def health_weight(self) -> float:
        """How much one such failure counts against the deployment's health (0..1)."""
        return _TABLE[self.value][1]

    @property
    def permanent(self) -> bool:
        """Whether the deployment is marked failed until an operator resets it."""
        return _TABLE[self.value][2]


# What to do, per class: the second half of every BackendError message.
_ADVICE: dict[FailureClass, str] = {
    FailureClass.TIMEOUT_CONNECT: "check that the backend is running and reachable",
    FailureClass.TIMEOUT_FIRST_BYTE: "the backend is overloaded or loading the model; "
    "raise the first-byte timeout or add capacity",
    FailureClass.TIMEOUT_IDLE: "generation stalled; check the backend's logs",
    FailureClass.TIMEOUT_TOTAL: "lower max_tokens or raise the total timeout",
    FailureClass.CONNECTION: "check that the backend process is up (it may have crashed)",
    FailureClass.MODEL_NOT_FOUND: "load the model on this endpoint or route to an "
    "endpoint that serves it",
    FailureClass.OUT_OF_MEMORY: "use a smaller/quantized model, a smaller context, "
    "or unload other models on this endpoint",
    FailureClass.CONTEXT_OVERFLOW: "shorten the prompt/history, lower max_tokens, "
    "or use a model with a larger context window",
    FailureClass.RATE_LIMITED: "wait for retry_after or lower the request rate/quota",
    FailureClass.AUTH: "check the endpoint's api key in the config (and its billing/quota)",
    FailureClass.SERVER_ERROR: "the backend failed; check its logs",
    FailureClass.BAD_RESPONSE: "the endpoint did not answer in the expected "
    "protocol; check its base URL and any proxy in front of it",
    FailureClass.GENERATION_ERROR: "the backend rejected this request; check its "
    "parameters (model options, message format)",
    FailureClass.UNKNOWN: "check the endpoint's base URL and the backend's logs",
}


class BackendError(LLMRuntimeError):
    """A classified failure of one backend call.

    Attributes:
        failure: The failure class (decides retry and health handling).
        status: The HTTP status, or None when there was none (timeouts, stream errors).
        message: Actionable text: what failed and what to do.
        retry_after: Seconds to wait as the backend asked, raw (the router caps it).
        body_snippet: At most 500 chars of the response body, secrets redacted.
    """

    def __init__(
        self,
        failure: FailureClass,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        body_snippet: str = "",
    ) -> None:
        self.failure = failure
        self.status = status
        self.message = redact(message)
        self.retry_after = retry_after
        self.body_snippet = snippet(body_snippet)
        super().__init__(self.message)

    @property
    def retryable(self) -> bool:
        """Shortcut for ``failure.retryable``."""
        return self.failure.retryable

    @property
    def health_weight(self) -> float:
        """Shortcut for ``failure.health_weight``."""
        return self.failure.health_weight

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only arguments would otherwise break pickling (pykka/process pools).
        return (
            _rebuild,
            (self.failure, self.message, self.status, self.retry_after, self.body_snippet),
        )


def _rebuild(
    failure: FailureClass,
    message: str,
    status: int | None,
    retry_after: float | None,
    body_snippet: str,
) -> BackendError:
    return BackendError(
        failure, message, status=status, retry_after=retry_after, body_snippet=body_snippet
    )


# Lower-cased substrings. OOM texts from Ollama ("model requires more system memory
# (5.5 GiB) than is available", "llama runner process no longer running: 2 cudaMalloc
# failed: out of memory"), CUDA/ggml ("CUDA error: out of memory", "ggml_cuda_pool_malloc
# ... out of memory"), llama.cpp ("failed to allocate compute buffers", "unable to
# allocate CUDA0 buffer"), Metal ("Insufficient Memory ... OutOfMemory").
_OOM_TEXTS = (
    "requires more system memory",
    "out of memory",
    "outofmemory",
    "cudamalloc failed",
    "failed to allocate",
    "unable to allocate",
    "insufficient memory",
    "not enough memory",
    "memory allocation failed",
)
# Ollama ("input length exceeds the context length", "exceeds the context window"),
# OpenAI (code context_length_exceeded, "maximum context length is N tokens"), llama.cpp
# (type exceed_context_size_error, "the request exceeds the available context size"),
# vLLM ("This model's maximum context length is ...", "prompt is too long").
_CONTEXT_TEXTS = (
    "context_length_exceeded",
    "exceed_context_size_error",
    "context length",
    "context window",
    "available context size",
    "input length exceeds",
    "maximum context length",
    "prompt is too long",
    "too many tokens",
)
_MODEL_MISSING = re.compile(
    r"model\s*[\"'`]?([^\"'`\s]*)[\"'`]?\s*(?:not found|does not exist|is not found)"
    r"|model_not_found|no such model",
    re.IGNORECASE,
)
_AUTH_CODES = ("invalid_api_key", "insufficient_quota", "invalid_authentication")


def _contains(text: str, needles: tuple[str, ...]) -> bool:
    return any(needle in text for needle in needles)


def _text_class(text: str) -> FailureClass | None:
    """Classify by the error text alone (OOM wins: it names the real cause)."""
    low = text.lower()
    if _contains(low, _OOM_TEXTS):
        return FailureClass.OUT_OF_MEMORY
    if _contains(low, _CONTEXT_TEXTS):
        return FailureClass.CONTEXT_OVERFLOW
    if _contains(low, _AUTH_CODES):
        # insufficient_quota is a 429 at OpenAI but waiting does not help: billing does.
        return FailureClass.AUTH
    return None


def _status_class(status: int, text: str) -> FailureClass:
    low = text.lower()
    if status in (401, 403) or (status == 429 and "insufficient_quota" in low):
        return FailureClass.AUTH
    if status == 429:
        return FailureClass.RATE_LIMITED
    by_text = _text_class(text)
    if by_text is not None:
        return by_text
    if "rate_limit" in low:
        return FailureClass.RATE_LIMITED
    if 400 <= status < 500 and _MODEL_MISSING.search(text):
        return FailureClass.MODEL_NOT_FOUND
    if status == 404:
        # A 404 that does not name a model is a wrong path: the base URL is misconfigured.
        return FailureClass.UNKNOWN
    if status == 413:
        return FailureClass.CONTEXT_OVERFLOW
    if status == 408 or status >= 500:
        return FailureClass.SERVER_ERROR
    if 400 <= status < 500:
        return FailureClass.GENERATION_ERROR
    return FailureClass.UNKNOWN


def _error_parts(payload: object) -> tuple[str, int | None]:
    """The searchable text of an error object and any numeric code inside it.

    Handles Ollama ``{"error": "text"}``, OpenAI/llama.cpp ``{"error": {"message",
    "type", "code"}}`` and vLLM's flat ``{"object": "error", "message", "code"}``.
    """
    if not isinstance(payload, dict):
        return "", None
    inner = payload.get("error", payload)
    if isinstance(inner, str):
        return inner, None
    if not isinstance(inner, dict):
        return "", None
    # Type and code join the text so "context_length_exceeded" etc. are matched too.
    parts = [str(inner[k]) for k in ("message", "type", "code") if isinstance(inner.get(k), str)]
    code = inner.get("code")
    numeric = code if isinstance(code, int) and not isinstance(code, bool) else None
    return " | ".join(parts), numeric


def _body_text(body: bytes) -> str:
    try:
        payload = msgspec.json.decode(body[:65536])
    except (msgspec.DecodeError, RecursionError):
        payload = None
    text, _ = _error_parts(payload)
    return text or body[:4096].decode("utf-8", "replace")


def _headers_lower(headers: HeadersLike) -> dict[str, str]:
    items = headers.items() if isinstance(headers, Mapping) else headers
    return {str(k).lower(): str(v) for k, v in items}


def _describe(api: str, failure: FailureClass, status: int | None, text: str) -> str:
    where = f"{api} endpoint" + (f" HTTP {status}" if status is not None else "")
    match = _MODEL_MISSING.search(text) if failure is FailureClass.MODEL_NOT_FOUND else None
    if match and match.group(1):
        detail = f"model {match.group(1)!r} not found"
    else:
        detail = snippet(text, 200) or "(empty body)"
    advice = _ADVICE[failure]
    if failure is FailureClass.MODEL_NOT_FOUND and api == "ollama":
        name = match.group(1) if match and match.group(1) else "MODEL"
        advice = f"run `ollama pull {name}` on that host or {advice}"
    return f"{where}: {failure.value}: {detail}; {advice}"


def _retry_after(headers: Mapping[str, str], now_epoch: float | None) -> float | None:
    # OpenAI also sends retry-after-ms, more precise than the seconds header.
    millis = parse_retry_after(headers.get("retry-after-ms"), None)
    if millis is not None:
        return millis / 1000.0
    return parse_retry_after(headers.get("retry-after"), now_epoch)


def classify_http_error(
    api: str,
    status: int,
    headers: HeadersLike,
    body: bytes,
    *,
    now_epoch: float | None = None,
) -> BackendError:
    """Classify a non-2xx response (or a 2xx that carries an error object).

    Args:
        api: "ollama" or "openai" (only used in the message).
        status: The HTTP status code.
        headers: Response headers (a Mapping such as ``httpx.Headers`` or pairs).
        body: The response body, already capped by the caller.
        now_epoch: Current Unix time, needed to read an HTTP-date Retry-After.

    Returns:
        The BackendError to raise; the caller raises it.
    """
    text = _body_text(body)
    failure = _status_class(status, text)
    lowered = _headers_lower(headers)
    retry_after = None
    if failure in (FailureClass.RATE_LIMITED, FailureClass.SERVER_ERROR):
        # 503 with Retry-After is "come back later", same as 429.
        retry_after = _retry_after(lowered, now_epoch)
    return BackendError(
        failure,
        _describe(api, failure, status, text),
        status=status,
        retry_after=retry_after,
        body_snippet=snippet(body),
    )


def classify_error_payload(api: str, payload: object, *, status: int | None = None) -> BackendError:
    """Classify an error object found inside a response body or a stream.

    Used for an ``{"error": ...}`` line in a 200 NDJSON stream and for an SSE
    ``data: {"error": {...}}`` event. Without a better hint the failure is a server
    error: the backend accepted the request and then failed while generating.

    Args:
        api: "ollama" or "openai" (only used in the message).
        payload: The decoded JSON object carrying the error.
        status: The HTTP status of the response that carried it, if known.

    Returns:
        The BackendError to raise.
    """
    text, code = _error_parts(payload)
    if code is not None and 400 <= code <= 599:
        failure = _status_class(code, text)
    else:
        failure = _text_class(text) or FailureClass.SERVER_ERROR
        if "rate_limit" in text.lower():
            failure = FailureClass.RATE_LIMITED
        elif _MODEL_MISSING.search(text):
            failure = FailureClass.MODEL_NOT_FOUND
    raw = msgspec.json.encode(payload) if isinstance(payload, dict) else b""
    return BackendError(
        failure, _describe(api, failure, status, text), status=status, body_snippet=snippet(raw)
    )
