"""``explain`` as text: the request, its plan, numbered steps, and a summary paragraph.

Pure: an ``Explanation`` in, a string out (colour and width from the ``Style``).
"""

from __future__ import annotations

import datetime as dt
import textwrap

from runtime.inspect._escape import escape
from runtime.inspect._explain_text import plural
from runtime.inspect._explain_types import Candidate, Explanation
from runtime.inspect._render import Style, colorize, tone_of
from runtime.inspect._when import duration, local_time, offset

__all__ = ["render_explanation"]

_WRAP = 100
"""Longest line of wrapped prose, even on a wider terminal (easier to read)."""
_LABEL = 12


def render_explanation(expl: Explanation, style: Style, tz: dt.tzinfo | None = None) -> str:
    """Render ``expl`` for a person; the text ends without a newline."""
    width = max(min(style.width, _WRAP), 40)
    parts = [
        _header(expl, style, tz, width),
        _plan(expl, style, width),
        _steps(expl, style, width),
        _section("Summary", style) + "\n" + _wrap(expl.summary, width, "  ", "  "),
    ]
    if expl.prompt is not None or expl.reply is not None:
        parts.append(_bodies(expl, style))
    return "\n\n".join(parts)


def _bodies(expl: Explanation, style: Style) -> str:
    """The stored messages and reply (``event_log.store_bodies``), verbatim but indented."""
    lines = [_section("Bodies (stored with event_log.store_bodies; secrets masked)", style)]
    for message in expl.prompt or ():
        lines.append(f"  [{escape(message.role)}]")
        lines.extend(f"    {escape(line)}" for line in message.content.splitlines() or [""])
    if expl.reply is not None:
        lines.append("  [reply]")
        lines.extend(f"    {escape(line)}" for line in expl.reply.splitlines() or [""])
    return "\n".join(lines)


def _section(title: str, style: Style) -> str:
    return colorize(title, "bold", style)


def _field(label: str, value: str, width: int) -> str:
    lead = f"  {label:<{_LABEL}}"
    return _wrap(value, width, lead, " " * len(lead))


def _wrap(text: str, width: int, first: str, rest: str) -> str:
    """Wrap ``text`` (escaped: data from the log, a newline shows as ``\\n``)."""
    return textwrap.fill(
        escape(text),
        width=width,
        initial_indent=first,
        subsequent_indent=rest,
        break_long_words=False,
        break_on_hyphens=False,
    )


def _header(expl: Explanation, style: Style, tz: dt.tzinfo | None, width: int) -> str:
    title = _section(f"Request {escape(expl.request_id)}", style)
    outcome = expl.outcome
    status = colorize(escape(outcome.status), tone_of(outcome.status), style)
    lines = [
        title,
        _field("asked for", _asked(expl), width),
        _field("started", local_time(expl.started_at, tz, millis=True), width),
        f"  {'outcome':<{_LABEL}}{status}: {escape(_outcome_line(expl))}",
    ]
    return "\n".join(lines)


def _asked(expl: Explanation) -> str:
    target = f"role {expl.role!r}" if expl.role is not None else f"model {expl.model!r}"
    kind = f" (task kind {expl.kind!r})" if expl.kind and expl.kind != expl.role else ""
    mode = "streaming" if expl.stream else "not streaming"
    size = f"{plural(expl.messages, 'message')}, {expl.prompt_chars} prompt characters"
    if expl.operation == "embed":
        mode, size = (
            "embeddings",
            f"{plural(expl.messages, 'input')}, {expl.prompt_chars} characters",
        )
    return f"{target}{kind}, {mode}, {size}"


def _outcome_line(expl: Explanation) -> str:
    outcome = expl.outcome
    took = f" in {duration(outcome.latency_s)}" if outcome.latency_s is not None else ""
    attempts = plural(outcome.attempts, "attempt")
    fallbacks = f", {plural(expl.fallbacks, 'fallback')}" if expl.fallbacks else ""
    match outcome.status:
        case "succeeded":
            return f"answered by {outcome.deployment} after {attempts}{fallbacks}{took}"
        case "interrupted":
            return (
                f"stream from {outcome.deployment} broke after {outcome.partial_chars} "
                f"characters ({outcome.failure}){took}"
            )
        case "cancelled":
            return f"cancelled by the caller after {attempts}{took}"
        case "failed":
            return f"{outcome.error_type or 'error'} after {attempts}{fallbacks}{took}"
        case _:
            return f"no end recorded ({attempts} so far)"


def _plan(expl: Explanation, style: Style, width: int) -> str:
    chain = " -> ".join(expl.chain) if expl.chain else "-"
    if len(expl.chain) > 1:
        chain += "   (the first model, then its fallbacks in order)"
    if expl.candidates:
        listed = "  ".join(f"{i}. {_candidate(c)}" for i, c in enumerate(expl.candidates, 1))
    else:
        listed = "none: no deployment could be used when the request arrived"
    lines = [
        _section("Plan", style),
        _field("models", chain, width),
        _field("candidates", listed, width),
    ]
    return "\n".join(lines)


def _candidate(candidate: Candidate) -> str:
    if candidate.weight is None:
        return candidate.deployment
    return f"{candidate.deployment} (weight {candidate.weight:g})"


def _steps(expl: Explanation, style: Style, width: int) -> str:
    steps = expl.steps
    lines = [_section("What happened (times since the request started)", style)]
    if not steps:
        lines.append("  (no steps recorded)")
    for number, step in enumerate(steps, 1):
        lead = f"  {number:>2}  {offset(step.offset_s):>9}  "
        pad = " " * len(lead)
        text = _wrap(step.text, width, lead, pad + "  ")
        lines.append(colorize(text, step.tone, style) if step.tone else text)
        for detail in step.details:
            for line in detail.strip().splitlines():  # an error may list its attempts
                indent = pad + "  " + " " * (len(line) - len(line.lstrip()))
                wrapped = _wrap(line.strip(), width, indent, indent + "  ")
                lines.append(colorize(wrapped, "dim", style))
    if expl.unreached_changes:
        changes = plural(expl.unreached_changes, "health change")
        note = (
            f"({changes} of candidates this request never reached left out; `timeline` shows them)"
        )
        lines.append(colorize(_wrap(note, width, "  ", "  "), "dim", style))
    return "\n".join(lines)
