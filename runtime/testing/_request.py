"""Reading what an API request asks for: prompt, limits, tools, JSON mode (pure).

Every helper takes the decoded JSON body and raises `BadRequest` with the message a
400 reply should carry when the body is not what the route needs.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from runtime.testing import _wire

_DECODER: Final = msgspec.json.Decoder()


class BadRequest(Exception):
    """The request body is not what the route needs; carries the message to send."""


class JsonMode(msgspec.Struct, frozen=True):
    """A request for JSON output: any JSON object, or an instance of `schema`."""

    schema: dict[str, Any] | None = None
    """The JSON Schema the reply must validate against; None for "any JSON object"."""


def decode(raw: bytes) -> dict[str, Any]:
    """Decode a JSON object body or raise `BadRequest`."""
    try:
        body = _DECODER.decode(raw) if raw.strip() else {}
    except msgspec.DecodeError as exc:
        raise BadRequest(f"invalid JSON request body: {exc}") from exc
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    return body


def int_or_none(value: object, name: str) -> int | None:
    """Validate an optional integer request field."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{name} must be an integer, got {value!r}")
    return value


def text_of(content: object) -> str:
    """The text of a message content (a string or a list of OpenAI content parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The chat messages of `body` (non-object entries skipped)."""
    found = body.get("messages")
    if not isinstance(found, list):
        raise BadRequest("messages must be a list of {role, content} objects")
    return [m for m in found if isinstance(m, dict)]


def prompt(body: dict[str, Any], route: _wire.Route) -> str:
    """The prompt text of a chat (all message contents) or completion request."""
    if route == "chat":
        return "\n".join(text_of(m.get("content")) for m in messages(body))
    text = body.get("prompt", "")
    if isinstance(text, list):
        text = " ".join(str(p) for p in text)
    if not isinstance(text, str):
        raise BadRequest("prompt must be a string")
    return " ".join(s for s in (body.get("system"), text) if isinstance(s, str) and s)


def max_tokens(body: dict[str, Any], dialect: _wire.Dialect) -> int | None:
    """``options.num_predict`` (Ollama) or ``max_tokens`` / ``max_completion_tokens``."""
    if dialect == "ollama":
        options = body.get("options") or {}
        if not isinstance(options, dict):
            raise BadRequest("options must be an object")
        return int_or_none(options.get("num_predict"), "options.num_predict")
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    return int_or_none(limit, "max_tokens")


def has_tools(body: dict[str, Any]) -> bool:
    """Whether the request offers the model at least one tool."""
    tools = body.get("tools")
    return isinstance(tools, list) and len(tools) > 0


def pending_tool_result(body: dict[str, Any]) -> str | None:
    """The content of the last ``tool`` message after the last ``user`` message.

    None means the current turn has no tool result yet (the model should call a tool);
    a string, possibly empty, is what the tool returned in this turn.
    """
    found: str | None = None
    for message in messages(body):
        role = message.get("role")
        if role == "user":
            found = None
        elif role == "tool":
            found = text_of(message.get("content"))
    return found


def json_mode(body: dict[str, Any], dialect: _wire.Dialect) -> JsonMode | None:
    """What JSON output the request asks for, or None for free text.

    OpenAI routes read ``response_format`` (``json_object`` / ``json_schema``), Ollama
    routes read ``format`` (``"json"`` or a JSON Schema object).
    """
    if dialect == "ollama":
        fmt = body.get("format")
        if fmt is None or fmt == "":
            return None
        if fmt == "json":
            return JsonMode()
        if isinstance(fmt, dict):
            return JsonMode(fmt)
        raise BadRequest(f'format must be "json" or a JSON schema object, got {fmt!r}')
    fmt = body.get("response_format")
    if fmt is None:
        return None
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return JsonMode()
    if kind == "json_schema":
        spec = fmt.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            raise BadRequest("response_format.json_schema.schema must be an object")
        return JsonMode(schema)
    raise BadRequest(
        f"response_format.type must be one of 'text', 'json_object', 'json_schema', got {fmt!r}"
    )
