"""``slow`` and ``failed`` as text and JSON: one row per request, the filters, a footer.

Each row gives what an on-call person asks first: when it started (UTC, ISO-8601 to the
second, ``2024-05-01 12:00:03Z``, so it can be pasted into ``--since``), the full request id
(to paste into ``explain``), role, model, the deployments tried, attempts, fallbacks,
latency and how it ended (the failure class and error for a failed one). The ids are
never cut: on a narrow terminal the error column is shortened first and the line may
then run over. A footer says how many matched; an empty result says which span was
searched.

Pure: a ``Listing`` in, a string out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runtime.inspect._render import (
    UNLIMITED_WIDTH,
    Style,
    Table,
    dumps_json,
    render_table,
    truncate,
    utc_iso,
)
from runtime.inspect._requests_model import Kind, RequestQuery, RequestRow
from runtime.inspect._when import duration

__all__ = ["Listing", "listing_json", "render_listing", "row_cells", "when"]

_HEADERS = (
    "when (UTC)",
    "request",
    "role",
    "model",
    "deployments tried",
    "attempts",
    "fallbacks",
    "latency",
    "outcome",
    "error",
)
_MIN_ERROR = 20
"""The error column keeps at least this many characters on a narrow terminal."""

_TITLES = {
    "slow": "Slowest finished requests (slowest first)",
    "failed": "Failed and cancelled requests (newest first)",
}


@dataclass(frozen=True, kw_only=True)
class Listing:
    """What ``slow``/``failed`` found: the rows shown and how many matched."""

    kind: Kind
    log: str
    """The log's path, for the ``explain`` hint."""
    query: RequestQuery
    rows: tuple[RequestRow, ...]
    matching: int
    """Requests that matched (``rows`` holds at most ``query.limit`` of them)."""
    searched: int
    """Requests read."""
    first_at: float | None
    """Start of the earliest request read (None: none was)."""
    last_at: float | None
    """Start of the latest request read."""


def row_cells(row: RequestRow) -> tuple[str, ...]:
    """The cells of one request, in ``_HEADERS`` order."""
    asked = row.model or row.primary or "-"
    model = asked if row.served_model in (None, asked) else f"{asked} -> {row.served_model}"
    tried = ", ".join(dict.fromkeys(row.tried)) or "-"
    outcome = row.outcome
    if row.outcome in ("failed", "cancelled") and row.failure:
        outcome = f"{row.outcome}: {row.failure}"
    elif row.outcome == "succeeded" and row.failed_attempts:
        outcome = f"succeeded ({row.failed_attempts} failed)"
    return (
        when(row.started),
        row.request_id,
        row.role or "-",
        model,
        tried,
        str(row.attempts),
        str(row.fallbacks),
        duration(row.latency_s),
        outcome,
        " ".join(row.error.split()) if row.outcome != "succeeded" else "",
    )


def when(moment: float) -> str:
    """``2024-05-01 12:00:03Z``: UTC to the second; ``--since`` accepts it as written."""
    return utc_iso(moment)[:19].replace("T", " ") + "Z"


def _filters(query: RequestQuery) -> str:
    """The filters given, as words: ``role 'gen', since 2024-05-01T12:00:00.000Z``."""
    parts = [
        f"{name} {value!r}"
        for name, value in (
            ("role", query.role),
            ("model", query.model),
            ("deployment", query.deployment),
            ("failure", query.failure),
        )
        if value is not None
    ]
    if query.since is not None:
        parts.append(f"started since {utc_iso(query.since)}")
    if query.until is not None:
        parts.append(f"until {utc_iso(query.until)}")
    return ", ".join(parts)


def _span(listing: Listing) -> str:
    """The span searched: the window given, else the starts of the requests read."""
    query = listing.query
    low = query.since if query.since is not None else listing.first_at
    high = query.until if query.until is not None else listing.last_at
    if low is None and high is None:
        return "the whole log (it holds no request)"
    start = "the start of the log" if low is None else utc_iso(low)
    end = "the end of the log" if high is None else utc_iso(high)
    return f"{start} .. {end}"


def render_listing(listing: Listing, style: Style) -> str:
    """The terminal form; the text ends without a newline."""
    filters = _filters(listing.query)
    title = _TITLES[listing.kind] + (f"; {filters}" if filters else "")
    if not listing.rows:
        what = "finished request" if listing.kind == "slow" else "failed or cancelled request"
        return (
            f"No {what} matched{f' ({filters})' if filters else ''}: searched "
            f"{listing.searched:,} requests started {_span(listing)}."
        )
    rows = [row_cells(row) for row in listing.rows]
    keep = len(_HEADERS) if any(cells[-1] for cells in rows) else len(_HEADERS) - 1
    headers = _HEADERS[:keep]
    rows = [cells[:keep] for cells in rows]
    if keep == len(_HEADERS) and style.width < UNLIMITED_WIDTH:
        rows = _fit_errors(headers, rows, style.width)
    note = (
        f"{len(listing.rows):,} of {listing.matching:,} matching "
        f"({listing.searched:,} requests searched, started {_span(listing)}); "
        f"`python -m runtime.inspect {listing.log} explain ID` shows one"
    )
    table = Table(title=title, headers=headers, rows=tuple(rows), note=note)
    text = render_table(table, Style(color=style.color, width=UNLIMITED_WIDTH))
    return text


def _fit_errors(
    headers: tuple[str, ...], rows: list[tuple[str, ...]], width: int
) -> list[tuple[str, ...]]:
    """Shorten the error cells (the last column) so lines fit ``width`` where they can."""
    fixed = [len(h) for h in headers[:-1]]
    for cells in rows:
        fixed = [max(w, len(cell)) for w, cell in zip(fixed, cells[:-1], strict=True)]
    room = max(width - sum(fixed) - 2 * (len(headers) - 1), _MIN_ERROR)
    return [(*cells[:-1], truncate(cells[-1], room)) for cells in rows]


def listing_json(listing: Listing) -> str:
    """The ``--json`` form: one object with the query, the counts and the rows."""
    query = listing.query
    data: dict[str, Any] = {
        "kind": listing.kind,
        "matching": listing.matching,
        "shown": len(listing.rows),
        "searched": listing.searched,
        "query": {
            "since": None if query.since is None else utc_iso(query.since),
            "until": None if query.until is None else utc_iso(query.until),
            "role": query.role,
            "model": query.model,
            "deployment": query.deployment,
            "failure": query.failure,
            "limit": query.limit,
        },
        "requests": [
            {**row.to_dict(), "started_utc": utc_iso(row.started)} for row in listing.rows
        ],
    }
    return dumps_json(data)
