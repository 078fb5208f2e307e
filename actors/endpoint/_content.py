"""What agent traffic carries besides text: content parts, tool calls, response formats.

The OpenAI chat shape, independent of any wire format: a message's content is a string
or a tuple of parts (text and images, in order); an assistant message may carry
``tool_calls``, a ``tool`` message answers one by ``tool_call_id``. Translating these
to Ollama's or the OpenAI API's JSON is done by ``_wire_chat``. Pure data.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from events import LLMRuntimeError

__all__ = [
    "ContentPart",
    "ImagePart",
    "ResponseFormat",
    "TextPart",
    "ToolCall",
    "UnsupportedParameter",
    "text_of",
]


class TextPart(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="text"):
    """A piece of text in a message given as a list of parts."""

    text: str


class ImagePart(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="image_url"):
    """An image in a message: a ``data:image/...;base64,...`` URL or an http(s) URL."""

    url: str
    detail: str | None = None
    """OpenAI's ``detail`` (``low``, ``high``, ``auto``); None: the backend's default."""

    @property
    def is_data(self) -> bool:
        """Whether the image travels inline (a ``data:`` URL)."""
        return self.url.startswith("data:")

    @property
    def base64(self) -> str:
        """The base64 payload of a ``data:`` URL (what Ollama's ``images`` takes).

        Raises:
            ValueError: Not a base64 ``data:`` URL.
        """
        head, sep, payload = self.url.partition(",")
        if not self.is_data or not sep or not head.endswith(";base64"):
            raise ValueError("not a base64 data: URL")
        return payload


ContentPart = TextPart | ImagePart
"""One part of a message's content."""


class ToolCall(msgspec.Struct, frozen=True, kw_only=True):
    """A function call the model asks for (OpenAI's ``tool_calls`` entry)."""

    id: str
    """The call's id; the ``tool`` message answering it names it in ``tool_call_id``."""
    name: str
    """The function's name."""
    arguments: str
    """The arguments as JSON text (as OpenAI sends them; Ollama's object is encoded)."""
    type: str = "function"

    def parsed_arguments(self) -> Any:
        """The arguments decoded from JSON.

        Raises:
            ValueError: They are not valid JSON.
        """
        try:
            return msgspec.json.decode(self.arguments or "{}")
        except msgspec.DecodeError as exc:
            raise ValueError(f"tool call {self.name!r}: arguments are not JSON ({exc})") from None


class ResponseFormat(msgspec.Struct, frozen=True, kw_only=True):
    """What shape the reply must have: free text, any JSON object, or JSON that follows a
    schema (OpenAI ``response_format``; Ollama ``format``)."""

    type: Literal["text", "json_object", "json_schema"] = "text"
    schema: dict[str, Any] | None = None
    """The JSON schema, for ``json_schema``."""
    name: str = "response"
    """The schema's name (OpenAI requires one)."""
    strict: bool | None = None
    """OpenAI's ``strict`` flag; None: not sent."""


class UnsupportedParameter(LLMRuntimeError, ValueError):
    """A parameter that one backend API cannot carry (never silently dropped).

    Raised by the wire translation (``parameter``, ``api``, ``why``); the runtime checks
    every deployment a call may reach before anything is sent, and names the endpoint.
    """

    def __init__(self, parameter: str, api: str, why: str, endpoint: str | None = None) -> None:
        self.parameter = parameter
        self.api = api
        self.why = why
        self.endpoint = endpoint
        where = f"endpoint {endpoint!r} ({api} API)" if endpoint else f"an {api} endpoint"
        super().__init__(f"{parameter!r} cannot be sent to {where}: {why}")

    def at(self, endpoint: str, model: str) -> UnsupportedParameter:
        """The same refusal, naming the endpoint (and model) it was checked for."""
        return UnsupportedParameter(
            self.parameter, self.api, f"{self.why} (model {model!r})", endpoint
        )


def text_of(content: str | tuple[ContentPart, ...]) -> str:
    """The text of a message's content (its text parts joined, images left out)."""
    if isinstance(content, str):
        return content
    return "".join(part.text for part in content if isinstance(part, TextPart))
