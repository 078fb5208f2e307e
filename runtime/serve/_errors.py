"""``HttpError``: a refusal with its HTTP status, and the mapping of runtime errors.

Each protocol renders the same ``HttpError`` in its own error shape (OpenAI
``{"error": {"message", "type", "param", "code"}}``, Ollama ``{"error": "..."}``).

The mapping::

    InvalidRequest            400 invalid_request (param: the field its message names)
    UnsupportedParameter      400 unsupported_parameter (param: its parameter)
    RequestRejected           400 <failure class> (context_overflow...), not retried
    ModelNotFoundError        404 model_not_found
    QuotaExceeded             429 quota_exceeded, Retry-After = seconds to the reset
    AllCandidatesFailed       502 all_candidates_failed (the runtime already retried)
    StreamBroken              502 <failure class>, as the stream's error event (_relay)
    NoCandidates              503 no_candidates
    QuotaUnavailable          503 quota_unavailable
    RuntimeNotRunning         503 runtime_not_running
    StateUnavailable          503 state_unavailable, Retry-After 1 (an actor restarting)
    EventLogFailing           503 event_log_failing, Retry-After 1 (the log cannot write:
                              disk full...; the runtime retries it every second)
    request_timeout passed    504 request_timeout

Responses for errors the runtime already retried carry ``x-should-retry: false`` so
the official clients do not retry them again (retries belong to one layer only).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from events._secrets import redact_secrets
from runtime._errors import (
    AllCandidatesFailed,
    EventLogFailing,
    InvalidRequest,
    ModelNotFoundError,
    NoCandidates,
    QuotaExceeded,
    QuotaUnavailable,
    RequestRejected,
    RuntimeNotRunning,
    StateUnavailable,
    UnsupportedParameter,
)

__all__ = ["ClientGone", "HttpError", "from_runtime_error", "openai_type"]

_NO_RETRY = {"x-should-retry": "false"}
_PARAMS = (
    "max_tokens|temperature|top_p|top_k|seed|stop|frequency_penalty|presence_penalty|"
    "repeat_penalty|logprobs|top_logprobs|tools|tool_choice|response_format|options|"
    "dimensions|inputs|input|messages"
)
_FIELD = re.compile(rf"^((?:{_PARAMS})(?:\[\d+\]|\.[A-Za-z_]\w*)*)\b")
"""A field path at the start of an ``InvalidRequest`` message (``top_p must be...``,
``messages[2].role must be...``)."""


class ClientGone(Exception):
    """The client disconnected before its answer was ready; the work was cancelled."""


class HttpError(Exception):
    """A request refused or failed, rendered as the protocol's error body.

    Attributes:
        status: The HTTP status.
        message: One clear sentence: what was wrong and what to do. Never a secret.
        code: A short machine-readable code (``body_too_large``, ``model_not_found``).
        param: The request field at fault, if any.
        headers: Extra response headers (``Retry-After``...).
        request_id: The runtime's request id, when the request reached the router.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
        request_id: str | None = None,
    ) -> None:
        message = redact_secrets(message)  # a backend may have echoed a key into it
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.headers = dict(headers or {})
        self.request_id = request_id


def openai_type(status: int) -> str:
    """The OpenAI error ``type`` for an HTTP status."""
    if status == 401:
        return "authentication_error"
    if status == 403:
        return "permission_error"
    if status == 404:
        return "not_found_error"
    if status == 429:
        return "rate_limit_error"
    if status >= 500:
        return "server_error"
    return "invalid_request_error"


def from_runtime_error(exc: Exception, *, now: float) -> HttpError | None:
    """The ``HttpError`` for an error raised by ``Runtime.chat``/``stream``.

    Args:
        exc: What the runtime raised.
        now: Wall-clock time (epoch seconds), to turn a quota reset into Retry-After.

    Returns:
        None for anything not listed in the module docstring (a bug to surface as 500).
    """
    rid = getattr(exc, "request_id", None)
    message = str(exc)
    if isinstance(exc, UnsupportedParameter):
        return HttpError(400, message, code="unsupported_parameter", param=exc.parameter)
    if isinstance(exc, InvalidRequest):
        field = _FIELD.match(message)
        param = field.group(1) if field else None
        return HttpError(400, message, code="invalid_request", param=param)
    if isinstance(exc, RequestRejected):
        return HttpError(400, message, code=exc.failure, request_id=rid, headers=_NO_RETRY)
    if isinstance(exc, ModelNotFoundError):
        return HttpError(404, message, code="model_not_found", param="model")
    if isinstance(exc, QuotaExceeded):
        wait = max(1, math.ceil(exc.resets_at - now))
        headers = {"retry-after": str(wait), **_NO_RETRY}
        return HttpError(429, message, code="quota_exceeded", headers=headers, request_id=rid)
    if isinstance(exc, NoCandidates):
        return HttpError(503, message, code="no_candidates", request_id=rid, headers=_NO_RETRY)
    if isinstance(exc, AllCandidatesFailed):
        code = "all_candidates_failed"
        return HttpError(502, message, code=code, request_id=rid, headers=_NO_RETRY)
    if isinstance(exc, QuotaUnavailable):
        return HttpError(503, message, code="quota_unavailable", request_id=rid)
    if isinstance(exc, RuntimeNotRunning):
        return HttpError(503, message, code="runtime_not_running")
    if isinstance(exc, StateUnavailable):
        return HttpError(503, message, code="state_unavailable", headers={"retry-after": "1"})
    if isinstance(exc, EventLogFailing):
        return HttpError(503, message, code="event_log_failing", headers={"retry-after": "1"})
    return None
