"""Turning what a caller passes as ``messages`` into ``Message`` objects (pure).

Accepts the OpenAI chat shape, which is what ``serve`` and most client code carry:
``content`` as a string or a list of parts (``{"type": "text", "text"}``,
``{"type": "image_url", "image_url": {"url", "detail"}}``), assistant ``tool_calls``
(``{"id", "type": "function", "function": {"name", "arguments"}}``, arguments a JSON
string) and ``tool`` messages with ``tool_call_id``. Ollama's shape is accepted too:
``images`` (base64 strings) beside the text, tool-call ``arguments`` as an object and
``tool_name`` on a tool message. Anything else is an ``InvalidRequest`` naming the
field (``messages[2].content[1].image_url``) and saying what to send instead.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from actors.endpoint import ContentPart, ImagePart, Message, TextPart, ToolCall
from runtime._errors import InvalidRequest

__all__ = ["MessagesLike", "parse_messages"]

MessagesLike = Iterable[Message | Mapping[str, Any]]
"""``[{"role": "user", "content": "hi"}]`` (OpenAI's or Ollama's shape) or ``Message``s."""

ROLES = frozenset({"system", "user", "assistant", "tool", "developer"})
_IMAGE_MAGIC = (
    ("iVBORw0KGgo", "image/png"),
    ("/9j/", "image/jpeg"),
    ("R0lGOD", "image/gif"),
    ("UklGR", "image/webp"),
)


def parse_messages(messages: MessagesLike) -> tuple[Message, ...]:
    """The messages, checked.

    Raises:
        InvalidRequest: Not a list of messages, an empty list, or a message that is
            malformed (the field is named).
    """
    if isinstance(messages, str | bytes) or not isinstance(messages, Iterable):
        raise InvalidRequest(
            "messages must be a list of {'role': ..., 'content': ...}, not a string; "
            "wrap it: [{'role': 'user', 'content': text}]"
        )
    checked = tuple(map(_checked, messages, itertools.count()))
    if not checked:
        raise InvalidRequest("messages is empty; send at least one message")
    return checked


_PLAIN_ROLES = frozenset({"system", "user", "assistant"})
"""Roles a message of text alone keeps as given (``developer`` and ``tool`` need more)."""


def _checked(item: object, index: int) -> Message:
    """One message (``messages[index]``), the common shapes first, without a frame more."""
    if type(item) is dict and len(item) == 2:  # the common {"role": r, "content": text}
        role, content = item.get("role"), item.get("content")
        if type(content) is str and role in _PLAIN_ROLES:
            return Message(role=role, content=content)
    elif type(item) is Message:
        return item
    return item if isinstance(item, Message) else _message(item, f"messages[{index}]")


def _message(item: object, where: str) -> Message:
    if not isinstance(item, Mapping):
        raise InvalidRequest(
            f"{where} must be an object with 'role' and 'content', got {item!r:.80}"
        )
    role = item.get("role")
    if not isinstance(role, str) or role not in ROLES:
        raise InvalidRequest(
            f"{where}.role must be one of {', '.join(sorted(ROLES))}, got {role!r:.40}"
        )
    tool_calls = _tool_calls(item.get("tool_calls"), f"{where}.tool_calls")
    if tool_calls and role != "assistant":
        raise InvalidRequest(f"{where}.tool_calls: only an assistant message carries tool calls")
    content = _content(item.get("content"), f"{where}.content", allow_none=bool(tool_calls))
    images = item.get("images")
    if images not in (None, []):
        content = _with_images(content, images, f"{where}.images")
    tool_call_id = _optional_str(item, "tool_call_id", where)
    name = _optional_str(item, "name", where) or _optional_str(item, "tool_name", where)
    if role == "tool" and tool_call_id is None and name is None:
        raise InvalidRequest(
            f"{where}: a tool message must say which call it answers: set 'tool_call_id' "
            "(the id from the assistant's tool_calls)"
        )
    return Message(
        role="system" if role == "developer" else role,
        content=content,
        tool_calls=tool_calls,
        tool_call_id=tool_call_id,
        name=name,
    )


def _optional_str(item: Mapping[str, Any], key: str, where: str) -> str | None:
    value = item.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f"{where}.{key} must be a non-empty string, got {value!r:.40}")
    return value


def _content(value: object, where: str, *, allow_none: bool) -> str | tuple[ContentPart, ...]:
    if isinstance(value, str):
        return value
    if value is None:
        if allow_none:
            return ""
        raise InvalidRequest(f"{where} is missing; send a string or a list of parts")
    if not isinstance(value, list):
        raise InvalidRequest(
            f"{where} must be a string or a list of parts, got {type(value).__name__}"
        )
    return tuple(_part(part, f"{where}[{index}]") for index, part in enumerate(value))


def _part(part: object, where: str) -> ContentPart:
    kind = part.get("type") if isinstance(part, Mapping) else None
    if not isinstance(part, Mapping) or kind not in ("text", "image_url"):
        raise InvalidRequest(
            f"{where} must be {{'type': 'text', 'text': ...}} or "
            f"{{'type': 'image_url', 'image_url': {{'url': ...}}}}, got {part!r:.80}"
        )
    if kind == "text":
        text = part.get("text")
        if not isinstance(text, str):
            raise InvalidRequest(f"{where}.text must be a string")
        return TextPart(text=text)
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, Mapping) else image
    detail = image.get("detail") if isinstance(image, Mapping) else None
    if not isinstance(url, str) or not url.startswith(("data:", "http://", "https://")):
        raise InvalidRequest(
            f"{where}.image_url.url must be a data: URL (data:image/png;base64,...) or an "
            "http(s) URL"
        )
    if detail is not None and not isinstance(detail, str):
        raise InvalidRequest(f"{where}.image_url.detail must be a string")
    return ImagePart(url=url, detail=detail)


def _with_images(
    content: str | tuple[ContentPart, ...], images: object, where: str
) -> tuple[ContentPart, ...]:
    """Ollama's ``images`` (base64, no media type) as image parts after the text."""
    if not isinstance(images, list) or not all(isinstance(i, str) and i for i in images):
        raise InvalidRequest(f"{where} must be a list of base64-encoded images")
    parts: tuple[ContentPart, ...] = content if isinstance(content, tuple) else ()
    if isinstance(content, str) and content:
        parts = (TextPart(text=content),)
    return (*parts, *(ImagePart(url=_data_url(image)) for image in images))


def _data_url(image: str) -> str:
    if image.startswith("data:"):
        return image
    media = next((m for magic, m in _IMAGE_MAGIC if image.startswith(magic)), "image/png")
    return f"data:{media};base64,{image}"


def _tool_calls(value: object, where: str) -> tuple[ToolCall, ...]:
    if value in (None, []):
        return ()
    if not isinstance(value, list):
        raise InvalidRequest(f"{where} must be a list of tool calls")
    return tuple(_tool_call(call, f"{where}[{index}]", index) for index, call in enumerate(value))


def _tool_call(call: object, where: str, index: int) -> ToolCall:
    function = call.get("function") if isinstance(call, Mapping) else None
    if not isinstance(call, Mapping) or not isinstance(function, Mapping):
        raise InvalidRequest(
            f"{where} must be {{'id': ..., 'type': 'function', 'function': "
            "{'name': ..., 'arguments': ...}}"
        )
    name = function.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidRequest(f"{where}.function.name must be a non-empty string")
    arguments = function.get("arguments", "{}")
    if not isinstance(arguments, str):  # Ollama's shape: the arguments as an object
        arguments = msgspec.json.encode(arguments).decode()
    call_id = call.get("id")
    if call_id is not None and not isinstance(call_id, str):
        raise InvalidRequest(f"{where}.id must be a string")
    return ToolCall(id=call_id or f"call_{index}", name=name, arguments=arguments)
