"""Plausible usage: reported token counts above what a reply could use are counted as
that bound (pure).

The quota charges what the backend reports. One backend reporting 137,500,000
completion tokens for a single reply would lock a 2,000-token daily limit for the rest
of the day, so each count is checked against a bound before anything is charged:

- completion tokens: the call's ``max_tokens`` (the request's, else the model's
  configured one: what the backend was told), else the deployment's context window when
  known, else ``MAX_REPLY_TOKENS``;
- prompt tokens: the smallest of the context window (when known), ``MAX_REPLY_TOKENS``
  and, when the prompt is text only, ``PROMPT_TOKENS_PER_CHAR`` tokens a character plus
  slack for chat templates. An embeddings request has only the character bound: each
  input fits the window, their sum need not.

A count above its bound is counted as the bound and the raw figure is kept beside it
(``AttemptSucceeded.reported_prompt_tokens`` / ``reported_completion_tokens``), so the
quota is not locked and ``inspect`` can show the figure flagged. Counts within their
bounds are left alone, and the raw fields stay None.
"""

from __future__ import annotations

import msgspec

__all__ = [
    "MAX_REPLY_TOKENS",
    "PROMPT_SLACK",
    "PROMPT_SLACK_PER_MESSAGE",
    "PROMPT_TOKENS_PER_CHAR",
    "PlausibleUsage",
    "UsageBounds",
    "plausible_usage",
    "usage_bounds",
]

MAX_REPLY_TOKENS = 1_000_000
"""Ceiling on either count of one reply when nothing tighter is known (no model has a
window this large): a module-level default, deliberately not a setting."""
PROMPT_TOKENS_PER_CHAR = 4
"""Tokens a prompt character can cost at most: a character is at most 4 bytes of UTF-8
and a byte-level tokenizer makes at most one token per byte."""
PROMPT_SLACK = 4096
"""Prompt tokens allowed beyond the characters: a chat template, a model's built-in
system prompt."""
PROMPT_SLACK_PER_MESSAGE = 64
"""Prompt tokens allowed per message (or embeddings input) for its template markers."""


class UsageBounds(msgspec.Struct, frozen=True, kw_only=True):
    """The largest plausible counts of one reply."""

    prompt_tokens: int
    completion_tokens: int


class PlausibleUsage(msgspec.Struct, frozen=True, kw_only=True):
    """Counts to charge, and the raw figures of those that were above their bound."""

    prompt_tokens: int | None = None
    """Prompt tokens to count (None when the backend reported none)."""
    completion_tokens: int | None = None
    """Completion tokens to count (None when the backend reported none)."""
    reported_prompt_tokens: int | None = None
    """The backend's prompt figure when it was above its bound, else None."""
    reported_completion_tokens: int | None = None
    """The backend's completion figure when it was above its bound, else None."""

    @property
    def clamped(self) -> bool:
        """Whether a count was above its bound."""
        return self.reported_prompt_tokens is not None or (
            self.reported_completion_tokens is not None
        )


def usage_bounds(
    *,
    max_tokens: int | None,
    window: int | None,
    prompt_chars: int,
    messages: int,
    text_only: bool,
    embeddings: bool = False,
) -> UsageBounds:
    """The bounds of the module docstring.

    Args:
        max_tokens: The completion cap the call was made with (None or <= 0: none).
        window: The deployment's context window for the call, when known.
        prompt_chars: Characters of the messages' text (or of the inputs to embed).
        messages: How many messages (or inputs).
        text_only: Whether the prompt is its text alone (no images, tools, tool calls):
            only then do the characters bound the prompt.
        embeddings: An embeddings request (nothing generated; the window bounds each
            input, not their sum).
    """
    if embeddings:
        chars = _chars_bound(prompt_chars, messages)
        return UsageBounds(prompt_tokens=chars, completion_tokens=0)
    known_window = window if window is not None and window > 0 else None
    prompt = MAX_REPLY_TOKENS if known_window is None else min(known_window, MAX_REPLY_TOKENS)
    if text_only:
        prompt = min(prompt, _chars_bound(prompt_chars, messages))
    if max_tokens is not None and max_tokens > 0:
        completion = max_tokens
    else:
        completion = MAX_REPLY_TOKENS if known_window is None else known_window
    return UsageBounds(prompt_tokens=prompt, completion_tokens=min(completion, MAX_REPLY_TOKENS))


def plausible_usage(
    prompt: int | None, completion: int | None, bounds: UsageBounds
) -> PlausibleUsage:
    """The counts to charge for reported ``prompt``/``completion`` under ``bounds``."""
    counted_prompt, raw_prompt = _bounded(prompt, bounds.prompt_tokens)
    counted_completion, raw_completion = _bounded(completion, bounds.completion_tokens)
    return PlausibleUsage(
        prompt_tokens=counted_prompt,
        completion_tokens=counted_completion,
        reported_prompt_tokens=raw_prompt,
        reported_completion_tokens=raw_completion,
    )


def _bounded(value: int | None, bound: int) -> tuple[int | None, int | None]:
    """``(counted, raw when above the bound)``."""
    if value is None or value <= bound:
        return value, None
    return bound, value


def _chars_bound(chars: int, messages: int) -> int:
    return (
        PROMPT_TOKENS_PER_CHAR * max(chars, 0)
        + PROMPT_SLACK
        + (PROMPT_SLACK_PER_MESSAGE * max(messages, 0))
    )
