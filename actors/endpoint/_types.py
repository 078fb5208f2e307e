"""Data passed between the endpoint actor's pure core and its I/O shell."""

from __future__ import annotations

from typing import Any

import msgspec

from actors.endpoint._content import ContentPart, ResponseFormat, ToolCall, text_of
from actors.endpoint._redact import REDACTED

__all__ = [
    "MAX_SANE_TOKENS",
    "ChatRequest",
    "ChatResult",
    "Chunk",
    "EmbedRequest",
    "EmbedResult",
    "HttpRequestSpec",
    "Message",
    "OptionValue",
    "Parameters",
    "Timings",
    "Usage",
    "sanitize_usage",
]

OptionValue = str | int | float | bool | None
"""A scalar option value (config defaults, ``options`` entries)."""

# A token count above this is a backend bug, not a real generation: no model has a
# billion-token context. Such counts would wreck quota balances, so they are dropped.
MAX_SANE_TOKENS = 10**9


class Message(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One chat message, in the OpenAI chat shape."""

    role: str
    """"system", "user", "assistant" or "tool"."""
    content: str | tuple[ContentPart, ...] = ""
    """The text, or a tuple of parts (text and images, in order)."""
    tool_calls: tuple[ToolCall, ...] = ()
    """The calls an assistant message asked for (a conversation replayed to the model)."""
    tool_call_id: str | None = None
    """On a ``tool`` message: the id of the call it answers."""
    name: str | None = None
    """On a ``tool`` message: the function's name (Ollama's ``tool_name``); else the
    participant's name, where the API has one."""

    @property
    def text(self) -> str:
        """The message's text (text parts joined; images left out)."""
        return text_of(self.content)


class Parameters(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """How to generate: every knob a chat call may set, None/empty meaning "not set"
    (the model's configured default, else the backend's).

    Each one is translated to each wire format, or refused with
    ``UnsupportedParameter``: never dropped (see ``_wire_chat``).
    """

    max_tokens: int | None = None
    """Cap on generated tokens (Ollama ``num_predict``)."""
    temperature: float | None = None
    top_p: float | None = None
    """Nucleus sampling."""
    top_k: int | None = None
    """Sample from the k most likely tokens."""
    seed: int | None = None
    """Sampling seed for reproducible output."""
    stop: tuple[str, ...] = ()
    """Stop sequences."""
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    repeat_penalty: float | None = None
    """llama.cpp's and Ollama's repetition penalty (1.0 = off)."""
    logprobs: bool | None = None
    """Ask for the chosen tokens' log probabilities, where the backend has them."""
    top_logprobs: int | None = None
    """How many alternatives per token with ``logprobs``."""
    tools: tuple[dict[str, Any], ...] = ()
    """Tool definitions in OpenAI's shape (``{"type": "function", "function": {...}}``)."""
    tool_choice: str | dict[str, Any] | None = None
    """``auto``, ``none``, ``required`` or ``{"type": "function", "function": {"name"}}``."""
    response_format: ResponseFormat | None = None
    """Free text, any JSON object, or JSON following a schema."""
    options: dict[str, Any] = msgspec.field(default_factory=dict)
    """Backend-specific options: entries of Ollama's ``options`` (``keep_alive`` and
    ``think`` go to its top level) or extra top-level fields of an OpenAI-compatible
    body (``min_p``, ``cache_prompt``...). They can never override the model, messages,
    stream flags or any header."""

    def over(self, defaults: Parameters) -> Parameters:
        """These parameters, with ``defaults`` (a model's configured ones) filling in
        what is not set; ``options`` are merged, these winning."""
        if defaults == _NO_PARAMETERS:
            return self
        merged = {
            field: getattr(self, field)
            if getattr(self, field) not in (None, ())
            else getattr(defaults, field)
            for field in self.__struct_fields__
            if field != "options"
        }
        return Parameters(**merged, options={**defaults.options, **self.options})


_NO_PARAMETERS = Parameters()


class ChatRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A chat completion request, independent of the backend's wire format."""

    model: str
    """The backend's model name (e.g. "llama3.2:3b")."""
    messages: tuple[Message, ...]
    """The conversation, oldest first."""
    stream: bool = False
    """Ask for an NDJSON/SSE stream instead of one JSON body."""
    params: Parameters = _NO_PARAMETERS
    """How to generate."""


class Usage(msgspec.Struct, frozen=True, kw_only=True):
    """Token counts reported by the backend (always sane: see :func:`sanitize_usage`)."""

    prompt_tokens: int
    """Tokens in the prompt (Ollama ``prompt_eval_count``)."""
    completion_tokens: int
    """Generated tokens (Ollama ``eval_count``)."""

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens


class Timings(msgspec.Struct, frozen=True, kw_only=True):
    """Raw server-side timings in nanoseconds, when the backend reports them.

    Ollama reports all four; llama.cpp's ``timings`` (milliseconds) gives prompt and eval.
    """

    total_duration_ns: int | None = None
    load_duration_ns: int | None = None
    prompt_eval_duration_ns: int | None = None
    eval_duration_ns: int | None = None


class Chunk(msgspec.Struct, frozen=True, kw_only=True):
    """One piece of a streamed reply.

    A stream yields content chunks with ``done=False`` and exactly one final chunk with
    ``done=True`` carrying the finish reason and usage.
    """

    content: str
    """Text to append to the reply (may be empty on the final chunk)."""
    done: bool = False
    """True only on the final chunk."""
    finish_reason: str | None = None
    """"stop", "length", ... when the backend says why generation ended."""
    usage: Usage | None = None
    """Token counts, on the final chunk when reported and sane."""
    timings: Timings | None = None
    """Server timings, on the final chunk when reported."""
    tool_calls: tuple[ToolCall, ...] = ()
    """On the final chunk: the tool calls of the whole stream, assembled from deltas."""
    logprobs: Any = None
    """This chunk's log probabilities as the backend sent them, when asked for."""


class ChatResult(msgspec.Struct, frozen=True, kw_only=True):
    """A complete (non-streamed) reply."""

    content: str
    """The reply text."""
    model: str
    """The model name the backend reports (may differ from the requested alias)."""
    finish_reason: str | None = None
    """"stop", "length", ... when reported."""
    usage: Usage | None = None
    """Token counts when reported and sane."""
    timings: Timings | None = None
    """Server timings when reported."""
    tool_calls: tuple[ToolCall, ...] = ()
    """Calls the model asks for (``finish_reason`` is then ``tool_calls``)."""
    logprobs: Any = None
    """Log probabilities as the backend sent them, when asked for."""


class EmbedRequest(msgspec.Struct, frozen=True, kw_only=True):
    """An embeddings request, independent of the wire format."""

    model: str
    inputs: tuple[str, ...]
    """The texts to embed, one vector each."""
    dimensions: int | None = None
    """Truncate vectors to this many dimensions, where the backend supports it."""
    options: dict[str, Any] = msgspec.field(default_factory=dict)
    """Backend-specific fields (Ollama's ``truncate``, ``keep_alive``, ``options``...)."""


class EmbedResult(msgspec.Struct, frozen=True, kw_only=True):
    """The vectors of an embeddings request, in input order."""

    vectors: tuple[tuple[float, ...], ...]
    model: str
    """The model name the backend reports."""
    usage: Usage | None = None
    """Prompt tokens (completion tokens are 0) when reported and sane."""


class HttpRequestSpec(msgspec.Struct, frozen=True, kw_only=True):
    """What the shell hands to httpx: method, path below the base URL, headers, body."""

    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""

    def __repr__(self) -> str:
        # The Authorization header must never reach a log line through a repr.
        shown = tuple(
            (name, REDACTED if name.lower() == "authorization" else value)
            for name, value in self.headers
        )
        return (
            f"HttpRequestSpec(method={self.method!r}, path={self.path!r}, "
            f"headers={shown!r}, body=<{len(self.body)} bytes>)"
        )


def _count(value: object) -> int | bool | None:
    """A valid count, None when absent, False when present but invalid."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        return False
    if value < 0 or value > MAX_SANE_TOKENS:
        return False
    return value


def sanitize_usage(prompt: object, completion: object) -> Usage | None:
    """Build a Usage from raw JSON values, or None when they cannot be trusted.

    Policy (no clamping, because a clamped number is a made-up number that would be
    charged to a quota):

    - a count that is present but not an int, negative or above ``MAX_SANE_TOKENS``
      makes the whole usage None (the ledger then estimates from lengths);
    - one missing count is 0 (Ollama omits ``prompt_eval_count`` when the prompt was
      fully cached); both missing gives None.

    Args:
        prompt: The raw prompt-token value from the JSON (any type).
        completion: The raw completion-token value from the JSON (any type).

    Returns:
        A sane Usage or None.
    """
    p, c = _count(prompt), _count(completion)
    if p is False or c is False or (p is None and c is None):
        return None
    return Usage(prompt_tokens=int(p or 0), completion_tokens=int(c or 0))
