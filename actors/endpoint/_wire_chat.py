"""``ChatRequest`` -> the JSON body of each wire format (pure).

Every field of :class:`Parameters` and of each :class:`Message` is either translated
to the wire format or refused with :class:`UnsupportedParameter` (naming the parameter
and the API): nothing a caller asked for is silently dropped. The refusals come first
(the whole request is translated before any reserved-key check), so
``check_chat_request`` can run the same translation ahead of sending.

OpenAI-compatible (``/v1/chat/completions``): ``options`` are merged at the top level
*before* the named parameters, which win. ``top_k`` and ``repeat_penalty`` are sent at
the top level as vLLM, llama.cpp and LM Studio name them. A participant ``name`` is
sent on every message but ``tool`` ones (the API has none there; ``tool_call_id``
identifies the call).

Ollama (``/api/chat``): generation knobs go in ``options`` (``num_predict``...), except
``keep_alive`` and ``think`` which are top-level fields. Images travel inline only
(base64 ``images``). A ``tool`` message is sent as ``{"role": "tool", "content",
"tool_name"}``: Ollama's API has no ``tool_call_id`` and matches tool results to calls
by their order, so the id is left out. Ollama has no participant names, so ``name``
on other messages is left out too.
"""

from __future__ import annotations

from typing import Any

import msgspec

from actors.endpoint._content import ImagePart, ResponseFormat, TextPart, UnsupportedParameter
from actors.endpoint._types import ChatRequest, Message, Parameters

__all__ = [
    "OLLAMA_ONLY_OPTIONS",
    "OPENAI_RESERVED",
    "ollama_chat_body",
    "openai_chat_body",
    "refuse_ollama_only_options",
]

OPENAI_RESERVED = frozenset({"model", "messages", "stream", "stream_options"})
"""Top-level fields the runtime owns; ``options`` may not set them."""

OLLAMA_ONLY_OPTIONS = frozenset(
    {
        "num_ctx",
        "num_predict",
        "keep_alive",
        "num_gpu",
        "num_thread",
        "num_batch",
        "num_keep",
        "mirostat",
        "mirostat_eta",
        "mirostat_tau",
        "repeat_last_n",
        "tfs_z",
        "penalize_newline",
        "numa",
        "use_mmap",
        "low_vram",
        "think",
    }
)
"""Options only Ollama's native API understands: refused on an OpenAI endpoint."""

_OLLAMA_TOP_LEVEL = ("keep_alive", "think")


def refuse_ollama_only_options(options: dict[str, Any], names: frozenset[str]) -> None:
    """Raise UnsupportedParameter for the first option in ``names`` (an OpenAI body)."""
    for key in sorted(names.intersection(options)):
        raise UnsupportedParameter(
            f"options.{key}",
            "openai",
            "an Ollama option; this endpoint speaks the OpenAI API: set api: ollama for "
            "an Ollama server, or leave it out",
        )


def _named(values: dict[str, Any]) -> dict[str, Any]:
    """The entries that are set (not None, not empty)."""
    return {key: value for key, value in values.items() if value not in (None, [], ())}


def _sampling(params: Parameters) -> dict[str, Any]:
    """The sampling knobs both APIs name alike (top level in OpenAI's body, entries of
    Ollama's ``options``)."""
    return {
        "temperature": params.temperature,
        "top_p": params.top_p,
        "top_k": params.top_k,
        "seed": params.seed,
        "stop": list(params.stop),
        "frequency_penalty": params.frequency_penalty,
        "presence_penalty": params.presence_penalty,
        "repeat_penalty": params.repeat_penalty,
    }


def _need_schema(fmt: ResponseFormat) -> dict[str, Any]:
    if fmt.schema is None:
        raise ValueError("response_format json_schema needs a schema")
    return fmt.schema


# --- OpenAI -------------------------------------------------------------------------


def _openai_content(content: str | tuple[TextPart | ImagePart, ...]) -> str | list[Any]:
    if isinstance(content, str):
        return content
    parts: list[Any] = []
    for part in content:
        if isinstance(part, TextPart):
            parts.append({"type": "text", "text": part.text})
        else:
            image: dict[str, str] = {"url": part.url}
            if part.detail is not None:
                image["detail"] = part.detail
            parts.append({"type": "image_url", "image_url": image})
    return parts


def _openai_message(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role}
    content = _openai_content(message.content)
    if message.tool_calls:
        # An assistant turn that only calls tools has null content.
        out["content"] = content or None
        out["tool_calls"] = [
            {
                "id": call.id,
                "type": call.type,
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in message.tool_calls
        ]
    else:
        out["content"] = content
    if message.tool_call_id is not None:
        out["tool_call_id"] = message.tool_call_id
    if message.name is not None and message.role != "tool":
        out["name"] = message.name
    return out


def _openai_response_format(fmt: ResponseFormat | None) -> dict[str, Any] | None:
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return {"type": "json_object"}
    spec: dict[str, Any] = {"name": fmt.name, "schema": _need_schema(fmt)}
    if fmt.strict is not None:
        spec["strict"] = fmt.strict
    return {"type": "json_schema", "json_schema": spec}


def openai_chat_body(req: ChatRequest) -> dict[str, Any]:
    """The JSON object of a ``/v1/chat/completions`` request.

    Raises:
        UnsupportedParameter: an Ollama-only option.
        ValueError: ``options`` set a reserved field, or a json_schema has no schema.
    """
    params = req.params
    refuse_ollama_only_options(params.options, OLLAMA_ONLY_OPTIONS)
    messages = [_openai_message(message) for message in req.messages]
    named = _named(
        {
            "max_tokens": params.max_tokens,
            **_sampling(params),
            "logprobs": params.logprobs,
            "top_logprobs": params.top_logprobs,
            "tools": list(params.tools),
            "tool_choice": params.tool_choice,
            "response_format": _openai_response_format(params.response_format),
        }
    )
    clash = OPENAI_RESERVED.intersection(params.options)
    if clash:
        raise ValueError(f"options may not set {sorted(clash)}; use ChatRequest fields")
    body: dict[str, Any] = {**params.options, **named}
    body.update(model=req.model, messages=messages, stream=req.stream)
    if req.stream:
        # Without this OpenAI sends no usage at all in a stream.
        body["stream_options"] = {"include_usage": True}
    return body


# --- Ollama -------------------------------------------------------------------------


def _ollama_images(index: int, message: Message) -> tuple[str, list[str]]:
    if isinstance(message.content, str):
        return message.content, []
    texts: list[str] = []
    images: list[str] = []
    for j, part in enumerate(message.content):
        if isinstance(part, TextPart):
            texts.append(part.text)
            continue
        where = f"messages[{index}].content[{j}].image_url"
        if not part.is_data:
            raise UnsupportedParameter(
                where, "ollama", "Ollama takes images inline only: send a data: URL"
            )
        try:
            images.append(part.base64)
        except ValueError:
            raise UnsupportedParameter(
                where, "ollama", "Ollama takes base64 images only: send a ;base64, data: URL"
            ) from None
    return "".join(texts), images


def _ollama_arguments(where: str, arguments: str) -> dict[str, Any]:
    try:
        value = msgspec.json.decode(arguments or "{}")
    except (msgspec.DecodeError, RecursionError):
        value = None
    if not isinstance(value, dict):
        raise UnsupportedParameter(
            where, "ollama", "Ollama takes tool-call arguments as a JSON object only"
        )
    return value


def _ollama_message(index: int, message: Message) -> dict[str, Any]:
    content, images = _ollama_images(index, message)
    out: dict[str, Any] = {"role": message.role, "content": content}
    if images:
        out["images"] = images
    if message.tool_calls:
        out["tool_calls"] = [
            {
                "function": {
                    "name": call.name,
                    "arguments": _ollama_arguments(
                        f"messages[{index}].tool_calls[{j}].arguments", call.arguments
                    ),
                }
            }
            for j, call in enumerate(message.tool_calls)
        ]
    if message.role == "tool" and message.name is not None:
        out["tool_name"] = message.name
    return out


def _ollama_tools(params: Parameters) -> list[dict[str, Any]]:
    """The tools to send, honouring ``tool_choice`` where Ollama can."""
    choice = params.tool_choice
    if choice is None or choice == "auto":
        return list(params.tools)
    if choice == "none":
        return []
    raise UnsupportedParameter(
        "tool_choice",
        "ollama",
        "Ollama cannot force a tool call: use auto or none, or an OpenAI-compatible endpoint",
    )


def _ollama_format(fmt: ResponseFormat | None) -> str | dict[str, Any] | None:
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return "json"
    return _need_schema(fmt)


def ollama_chat_body(req: ChatRequest) -> dict[str, Any]:
    """The JSON object of an ``/api/chat`` request.

    ``stream`` is always sent: Ollama streams when it is absent.

    Raises:
        UnsupportedParameter: a forced ``tool_choice``, an image by URL, tool-call
            arguments that are not a JSON object.
        ValueError: a json_schema response format without a schema.
    """
    params = req.params
    messages = [_ollama_message(i, message) for i, message in enumerate(req.messages)]
    body: dict[str, Any] = {"model": req.model, "messages": messages, "stream": req.stream}
    if params != _NO_PARAMETERS or _WITH_DEFAULTS:
        body.update(_ollama_parameters(params))
    return body


def _ollama_parameters(params: Parameters) -> dict[str, Any]:
    """The entries ``params`` adds to an ``/api/chat`` body, in the body's order."""
    tools = _ollama_tools(params)
    fmt = _ollama_format(params.response_format)
    options = {k: v for k, v in params.options.items() if k not in _OLLAMA_TOP_LEVEL}
    options.update(_named({"num_predict": params.max_tokens, **_sampling(params)}))
    body = {k: params.options[k] for k in _OLLAMA_TOP_LEVEL if k in params.options}
    if options:
        body["options"] = options
    if tools:
        body["tools"] = tools
    if fmt is not None:
        body["format"] = fmt
    if params.logprobs:
        body["logprobs"] = True
    if params.top_logprobs is not None:
        body["top_logprobs"] = params.top_logprobs
    return body


_NO_PARAMETERS = Parameters()
_WITH_DEFAULTS = bool(_ollama_parameters(_NO_PARAMETERS))
"""Whether unset parameters add anything to a body (they do not: the common request
skips building the empty entries)."""
