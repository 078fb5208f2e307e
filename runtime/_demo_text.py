"""Text of the demo's narration: styles, event lines, status and summary lines (pure).

Nothing here writes or waits; ``runtime._demo_output`` decides where the text goes and
``runtime._demo_scenario`` what happens. Colours are ANSI SGR codes, applied only when
the caller says colour is on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from events import (
    DeploymentProbingStarted,
    DeploymentQuarantined,
    DeploymentRecovered,
    Event,
    FallbackSwitched,
    QuotaWarningIssued,
)

__all__ = [
    "BAR_WIDTH",
    "STYLES",
    "counts_text",
    "event_line",
    "failures_text",
    "paint",
    "plural",
    "short_reason",
    "status_line",
]

STYLES: Final[Mapping[str, str]] = {
    "bold": "1",
    "dim": "2",
    "red": "31",
    "green": "32",
    "yellow": "33",
    "blue": "34",
    "magenta": "35",
    "cyan": "36",
}
"""Style name -> ANSI SGR code."""

BAR_WIDTH: Final = 20
"""Characters of the status line's bar."""

_RECOVERED_FROM: Final = frozenset({"probing", "quarantined"})
"""``DeploymentRecovered.previous`` values that end a quarantine (the news worth telling);
``unknown`` (first success) and ``degraded`` are routine."""


def paint(text: str, style: str | None, *, color: bool) -> str:
    """``text`` wrapped in the ANSI codes of ``style`` when ``color`` is on.

    ``style`` may combine names with ``+`` (``"bold+cyan"``); unknown names are ignored.
    """
    if not color or not style:
        return text
    codes = [STYLES[name] for name in style.split("+") if name in STYLES]
    if not codes:
        return text
    return f"\x1b[{';'.join(codes)}m{text}\x1b[0m"


def short_reason(reason: str) -> str:
    """The head of a health reason, without the long ``(last: ...)`` error text.

    Example: ``"2 consecutive failures (last: connection: b (http://...) ...)"`` becomes
    ``"2 consecutive failures"``.
    """
    head = reason.split(" (last:", 1)[0].strip()
    return head or reason


def event_line(event: Event) -> tuple[str, str] | None:
    """The narration line for ``event`` and its style, or None if it is not news."""
    match event:
        case DeploymentQuarantined():
            seconds = max(0.0, event.until - event.at)
            again = f", quarantine #{event.quarantine_count}" if event.quarantine_count > 1 else ""
            why = short_reason(event.reason) or event.failure or "failures"
            text = f"! {event.deployment} quarantined for {seconds:.1f} s ({why}{again})"
            return text, "yellow"
        case DeploymentProbingStarted():
            text = f"? {event.deployment}: quarantine over, probing whether it is back"
            return text, "dim"
        case DeploymentRecovered() if event.previous in _RECOVERED_FROM:
            return f"+ {event.deployment} recovered: back in rotation", "green"
        case FallbackSwitched():
            detail = f" ({event.detail})" if event.detail else ""
            text = (
                f"> request {event.request_id} fell back from {event.from_model} "
                f"to {event.to_model}{detail}"
            )
            return text, "cyan"
        case QuotaWarningIssued():
            text = (
                f"$ quota warning: {event.limit} at {event.used} of {event.limit_value} "
                f"({event.ratio:.0%} of the daily limit)"
            )
            return text, "magenta"
        case _:
            return None


def plural(count: int, word: str, words: str | None = None) -> str:
    """``"1 error"``, ``"3 errors"``; ``words`` for an irregular plural (``recoveries``)."""
    return f"{count} {word if count == 1 else (words or word + 's')}"


def counts_text(counts: Mapping[str, int]) -> str:
    """``"llama3@a 5, llama3@b 5"``: counts in descending order, ties by name."""
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{name} {count}" for name, count in ordered) or "none"


def failures_text(failures: Mapping[tuple[str, str], int]) -> str:
    """``"llama3@b connection x3, llama3@a server_error x1"`` from (deployment, failure)."""
    ordered = sorted(failures.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{dep} {failure} x{count}" for (dep, failure), count in ordered)


def status_line(label: str, done: int, total: int, answered: Mapping[str, int], errors: int) -> str:
    """The live line of a traffic phase: bar, count, answers so far by deployment.

    Example: ``"  steady [##########----------] 10/20  llama3@a 5, llama3@b 5  0 errors"``.
    When more than ``total`` were sent (a phase that waits for something) the bar is full.
    """
    fraction = min(1.0, done / total) if total else 1.0
    filled = int(fraction * BAR_WIDTH)
    bar = "#" * filled + "-" * (BAR_WIDTH - filled)
    return f"  {label} [{bar}] {done}/{total}  {counts_text(answered)}  {plural(errors, 'error')}"
