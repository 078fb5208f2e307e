"""The requests pages: the slowest / failed tables with their filters, and one request.

``requests_main`` lists ``RequestRow``s (``runtime.inspect._requests_model``); every row
links to ``request/<id>``. ``request_main`` shows an ``Explanation`` (the same one
``inspect LOG explain`` prints) as a waterfall, its steps in words and its outcome.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping, Sequence

from runtime.inspect._explain_types import Explanation
from runtime.inspect._requests_model import RequestRow
from runtime.inspect.web._html import count, esc, esc_lines, seconds, table, utc
from runtime.inspect.web._svg import legend
from runtime.inspect.web._svg_charts import KIND_COLOURS, waterfall_chart
from runtime.inspect.web._waterfall import waterfall

__all__ = ["FILTERS", "request_href", "request_main", "requests_main"]

FILTERS = ("role", "model", "deployment", "failure", "since", "until", "limit")
"""The query parameters of ``requests`` besides ``kind`` (all optional)."""

_PLACEHOLDERS = {
    "role": "e.g. generator",
    "model": "asked or served",
    "deployment": "model@endpoint",
    "failure": "e.g. timeout_connect",
    "since": "1h, ISO-8601, epoch",
    "until": "now",
    "limit": "20",
}


def request_href(request_id: str) -> str:
    """The relative link to one request's page."""
    return "request/" + urllib.parse.quote(request_id, safe="")


def _form(kind: str, values: Mapping[str, str]) -> str:
    options = "".join(
        f'<option value="{k}"{" selected" if k == kind else ""}>{label}</option>'
        for k, label in (("slow", "slowest"), ("failed", "failed"))
    )
    fields = "".join(
        f'<label>{name} <input name="{name}" value="{esc(values.get(name, ""))}" '
        f'placeholder="{esc(_PLACEHOLDERS[name])}" '
        f'size="{6 if name == "limit" else 16}"></label>'
        for name in FILTERS
    )
    return (
        '<form class="filters" method="get" action="requests">'
        f'<label>show <select name="kind">{options}</select></label>{fields}'
        '<button type="submit">filter</button> <a href="requests?kind='
        f'{esc(kind)}">clear</a></form>'
    )


def _row(row: RequestRow, kind: str) -> str:
    href = esc(request_href(row.request_id))
    model = row.model or row.primary or "-"
    if row.served_model and row.served_model != model:
        model = f"{model} → {row.served_model}"
    tried = " → ".join(row.tried) or "-"
    outcome = row.outcome
    if row.failure:
        outcome += f" ({row.failure})"
    error = ""
    if row.error:  # the first line; the whole message in the tooltip
        first = row.error.strip().splitlines()[0] if row.error.strip() else row.error
        error = f'<div class="error-text" title="{esc(row.error)}">{esc(first)}</div>'
    latency = "" if row.latency_s is None else f"{row.latency_s:.6f}"
    return (
        f'<tr data-request-id="{esc(row.request_id)}" data-outcome="{esc(row.outcome)}">'
        f'<td data-key="started" data-value="{row.started:.3f}">{esc(utc(row.started))}</td>'
        f'<td data-key="request"><a href="{href}">{esc(row.request_id)}</a></td>'
        f'<td data-key="role">{esc(row.role or "-")}</td>'
        f'<td data-key="model">{esc(model)}</td>'
        f'<td data-key="deployment">{esc(tried)}</td>'
        f'<td data-key="attempts" data-value="{row.attempts}">{row.attempts}</td>'
        f'<td data-key="fallbacks" data-value="{row.fallbacks}">{row.fallbacks}</td>'
        f'<td data-key="latency" data-value="{latency}">{esc(seconds(row.latency_s))}</td>'
        f'<td data-key="outcome" class="outcome-{esc(row.outcome)}">{esc(outcome)}{error}</td>'
        "</tr>"
    )


def requests_main(
    kind: str,
    rows: Sequence[RequestRow],
    *,
    matching: int,
    total: int,
    values: Mapping[str, str],
) -> str:
    """The slowest (``kind="slow"``) or failed requests table with its filter form.

    Args:
        rows: The requests to show, in order.
        matching: How many requests match the filters (the table shows ``len(rows)``).
        total: How many requests the log holds.
        values: The filter values as the user typed them (shown back in the form).
    """
    heading = "Slowest requests" if kind == "slow" else "Failed and cancelled requests"
    what = "finished" if kind == "slow" else "failed or cancelled"
    note = (
        f"{count(len(rows))} of {count(matching)} matching {what} requests "
        f"({count(total)} requests in the log)"
    )
    return (
        f"<h1>{esc(heading)}</h1>"
        + _form(kind, values)
        + f'<p class="meta">{esc(note)}</p>'
        + table(
            "requests",
            (
                "started",
                "request",
                "role",
                "model",
                "deployments tried",
                "attempts",
                "fallbacks",
                "latency",
                "outcome",
            ),
            (_row(row, kind) for row in rows),
            attrs=f' data-kind="{esc(kind)}"',
            empty=f"no {what} request matches these filters",
        )
    )


def request_main(explanation: Explanation) -> str:
    """One request: what it asked for, the waterfall, each step, and the outcome."""
    fall = waterfall(explanation)
    asked = explanation.model or "-"
    if explanation.role:
        asked = f"role {explanation.role} ({' → '.join(explanation.chain) or asked})"
    facts = (
        ("request", explanation.request_id),
        ("asked for", asked),
        ("started", utc(explanation.started_at)),
        ("operation", explanation.operation + (" (stream)" if explanation.stream else "")),
        (
            "prompt",
            f"{count(explanation.messages)} messages, {count(explanation.prompt_chars)} chars",
        ),
        ("planned", ", ".join(c.deployment for c in explanation.candidates) or "-"),
    )
    dl = "".join(f"<div><dt>{esc(k)}</dt><dd>{esc(v)}</dd></div>" for k, v in facts)
    steps = "".join(
        f'<li class="tone-{esc(step.tone or "plain")}" data-kind="{esc(step.kind)}">'
        f'<span class="when">+{esc(seconds(step.offset_s))}</span> {esc(step.text)}'
        + "".join(f'<div class="detail">{esc_lines(d)}</div>' for d in step.details)
        + "</li>"
        for step in explanation.steps
    )
    kinds = [k for k in KIND_COLOURS if any(s.kind == k for r in fall.rows for s in r.segments)]
    return (
        f"<h1>Request {esc(explanation.request_id)}</h1>"
        + f'<dl class="facts">{dl}</dl>'
        + _outcome(explanation)
        + "<h2>Waterfall (seconds since the request started)</h2>"
        + legend([(k.replace("_", " "), KIND_COLOURS[k]) for k in kinds])
        + waterfall_chart(fall)
        + f'<h2>Steps</h2><ol class="steps">{steps}</ol>'
        + _bodies(explanation)
    )


def _outcome(explanation: Explanation) -> str:
    outcome = explanation.outcome
    parts = [f"<strong>{esc(outcome.status)}</strong>"]
    if outcome.deployment:
        parts.append(f"by {esc(outcome.deployment)}")
    if outcome.latency_s is not None:
        parts.append(f"in {esc(seconds(outcome.latency_s))}")
    parts.append(f"after {outcome.attempts} attempt{'s' if outcome.attempts != 1 else ''}")
    if explanation.fallbacks:
        parts.append(
            f"and {explanation.fallbacks} fallback{'s' if explanation.fallbacks > 1 else ''}"
        )
    error = ""
    if outcome.status != "succeeded" and (outcome.error or outcome.failure):
        failure = f"{outcome.failure}: " if outcome.failure else ""
        error = f'<p class="error-text">{esc_lines(failure + outcome.error)}</p>'
    return (
        f'<section class="outcome" data-outcome="{esc(outcome.status)}">'
        f'<p>{" ".join(parts)}</p>{error}<p class="summary">{esc(explanation.summary)}</p>'
        "</section>"
    )


def _bodies(explanation: Explanation) -> str:
    if explanation.prompt is None and explanation.reply is None:
        return ""
    out = ["<h2>Bodies (masked)</h2>"]
    for message in explanation.prompt or ():
        out.append(
            f'<div class="message"><span class="role">{esc(message.role)}</span>'
            f"<pre>{esc_lines(message.content)}</pre></div>"
        )
    if explanation.reply is not None:
        out.append(
            '<div class="message"><span class="role">reply</span>'
            f"<pre>{esc_lines(explanation.reply)}</pre></div>"
        )
    return "".join(out)
