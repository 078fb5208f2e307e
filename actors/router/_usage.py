"""The usage a successful attempt is counted with: the backend's figures, bounded (pure).

The bounds are ``actors.quota``'s plausibility rules (``usage_bounds``), fed with what
the request state knows about the call: its ``max_tokens`` (the request's, else the
model's configured one, as the call was made), the deployment's context window when
known, and the prompt's characters. The same counts go to ``AttemptSucceeded`` and to
the quota's ``Settle``, so the ledger and a replay of the request's events agree.
"""

from __future__ import annotations

from actors.endpoint import ImagePart, Usage
from actors.quota import PlausibleUsage, plausible_usage, usage_bounds
from actors.router._state import RequestState
from actors.router._types import RouteRequest
from events import split_deployment

__all__ = ["counted_usage", "scaled_rate"]


def counted_usage(state: RequestState, deployment: str, usage: Usage | None) -> PlausibleUsage:
    """The counts to record and charge for ``usage`` reported by ``deployment``."""
    if usage is None:
        return PlausibleUsage()
    request = state.request
    model = split_deployment(deployment)[0]
    bounds = usage_bounds(
        max_tokens=request.params.max_tokens or state.settings.max_tokens.get(model),
        window=state.windows.get(deployment),
        prompt_chars=state.prompt_chars,
        messages=len(request.inputs) if request.inputs else len(request.messages),
        text_only=_text_only(request),
        embeddings=bool(request.inputs),
    )
    return plausible_usage(usage.prompt_tokens, usage.completion_tokens, bounds)


def scaled_rate(rate: float | None, counted: PlausibleUsage) -> float | None:
    """Tokens per second with the completion figure bounded like the count: an absurd
    figure must not make a deployment look fast to the performance ranking either."""
    raw = counted.reported_completion_tokens
    if rate is None or raw is None or raw <= 0 or counted.completion_tokens is None:
        return rate
    return rate * counted.completion_tokens / raw


def _text_only(request: RouteRequest) -> bool:
    """Whether the prompt is its messages' text alone (no images, tools, tool calls)."""
    if request.params.tools:
        return False
    for message in request.messages:
        if message.tool_calls:
            return False
        if not isinstance(message.content, str) and any(
            isinstance(part, ImagePart) for part in message.content
        ):
            return False
    return True
