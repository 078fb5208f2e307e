"""Plausible usage (issue 19, point 4): reported figures above what a reply could use are
counted as that bound, and the raw figure is kept beside it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from actors.quota import MAX_REPLY_TOKENS, PlausibleUsage, UsageBounds, plausible_usage
from actors.quota import usage_bounds as bounds_of
from actors.quota._plausible import PROMPT_SLACK, PROMPT_SLACK_PER_MESSAGE


def chat_bounds(
    *,
    max_tokens: int | None = None,
    window: int | None = None,
    prompt_chars: int = 11,
    messages: int = 1,
    text_only: bool = True,
) -> UsageBounds:
    return bounds_of(
        max_tokens=max_tokens,
        window=window,
        prompt_chars=prompt_chars,
        messages=messages,
        text_only=text_only,
    )


def test_the_reported_137_million_completion_tokens_count_as_the_calls_max_tokens() -> None:
    counted = plausible_usage(12, 137_500_000, chat_bounds(max_tokens=2_000))
    assert counted == PlausibleUsage(
        prompt_tokens=12, completion_tokens=2_000, reported_completion_tokens=137_500_000
    )
    assert counted.clamped


def test_without_max_tokens_the_context_window_bounds_the_completion() -> None:
    assert chat_bounds(window=8_192).completion_tokens == 8_192
    counted = plausible_usage(None, 137_500_000, chat_bounds(window=8_192))
    assert (counted.completion_tokens, counted.reported_completion_tokens) == (8_192, 137_500_000)


def test_with_nothing_known_the_ceiling_bounds_both_counts() -> None:
    bounds = chat_bounds(prompt_chars=10**7, text_only=True)
    assert bounds == UsageBounds(prompt_tokens=MAX_REPLY_TOKENS, completion_tokens=MAX_REPLY_TOKENS)
    counted = plausible_usage(5 * 10**8, 5 * 10**8, bounds)
    assert counted.prompt_tokens == counted.completion_tokens == MAX_REPLY_TOKENS
    assert counted.reported_prompt_tokens == counted.reported_completion_tokens == 5 * 10**8


def test_a_text_prompt_is_bounded_by_its_characters_and_template_slack() -> None:
    bounds = chat_bounds(prompt_chars=100, messages=2, window=131_072)
    assert bounds.prompt_tokens == 4 * 100 + PROMPT_SLACK + 2 * PROMPT_SLACK_PER_MESSAGE
    counted = plausible_usage(1_000_000, 10, bounds)
    assert counted.prompt_tokens == bounds.prompt_tokens
    assert counted.reported_prompt_tokens == 1_000_000
    assert counted.reported_completion_tokens is None


def test_images_or_tools_leave_the_prompt_to_the_window() -> None:
    assert chat_bounds(prompt_chars=10, window=32_768, text_only=False).prompt_tokens == 32_768


def test_an_embeddings_request_is_bounded_by_its_inputs_not_one_window() -> None:
    bounds = bounds_of(
        max_tokens=None,
        window=512,
        prompt_chars=10_000,
        messages=20,
        text_only=True,
        embeddings=True,
    )
    assert bounds.prompt_tokens == 40_000 + PROMPT_SLACK + 20 * PROMPT_SLACK_PER_MESSAGE
    assert bounds.completion_tokens == 0
    assert not plausible_usage(3_000, 0, bounds).clamped


def test_missing_figures_stay_missing() -> None:
    assert plausible_usage(None, None, chat_bounds(max_tokens=5)) == PlausibleUsage()


@given(
    prompt=st.none() | st.integers(0, 10**9),
    completion=st.none() | st.integers(0, 10**9),
    max_tokens=st.none() | st.integers(-1, 10**7),
    window=st.none() | st.integers(0, 10**7),
    chars=st.integers(0, 10**6),
    text_only=st.booleans(),
)
def test_counts_never_exceed_their_bound_and_plausible_ones_are_untouched(
    prompt: int | None,
    completion: int | None,
    max_tokens: int | None,
    window: int | None,
    chars: int,
    text_only: bool,
) -> None:
    bounds = chat_bounds(
        max_tokens=max_tokens, window=window, prompt_chars=chars, text_only=text_only
    )
    counted = plausible_usage(prompt, completion, bounds)
    for raw, count, kept, bound in (
        (prompt, counted.prompt_tokens, counted.reported_prompt_tokens, bounds.prompt_tokens),
        (
            completion,
            counted.completion_tokens,
            counted.reported_completion_tokens,
            bounds.completion_tokens,
        ),
    ):
        if raw is None:
            assert count is None and kept is None
        elif raw <= bound:
            assert (count, kept) == (raw, None)
        else:
            assert (count, kept) == (bound, raw)
        assert bound <= MAX_REPLY_TOKENS
