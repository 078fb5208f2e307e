"""Implausible usage in ``inspect``: the backend figures counted as their bound (pure).

The router counts a reported token figure above what the call could use as that bound
and keeps the raw figure on ``AttemptSucceeded`` (``reported_prompt_tokens``,
``reported_completion_tokens``; see ``actors.quota._plausible``). ``explain`` shows it
under the attempt, ``state`` lists the period's such attempts in a table of their own.
Logs written before these fields hold none, and show nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import msgspec

from actors.quota import MAX_REPLY_TOKENS
from events import AttemptSucceeded, StoredEvent
from runtime.inspect._render import Table
from runtime.inspect._when import local_time

__all__ = ["ImplausibleRow", "implausible_lines", "implausible_rows", "implausible_table"]


class ImplausibleRow(msgspec.Struct, frozen=True, kw_only=True):
    """One reported figure that was counted as its bound."""

    at: float
    request_id: str
    deployment: str
    kind: str
    """``prompt`` or ``completion``."""
    reported: int
    """What the backend said."""
    counted: int
    """What the quota and the statistics counted."""


def implausible_lines(event: AttemptSucceeded) -> tuple[str, ...]:
    """One line per implausible figure of ``event``, e.g. ``completion tokens
    137,500,000 reported, counted as 2,000 (implausible)``."""
    return tuple(_line(row.kind, row.reported, row.counted) for row in _rows(event))


def implausible_rows(events: Iterable[StoredEvent]) -> tuple[ImplausibleRow, ...]:
    """The implausible figures of every ``AttemptSucceeded`` in ``events``, in order."""
    return tuple(
        row
        for stored in events
        if isinstance(stored.event, AttemptSucceeded)
        for row in _rows(stored.event)
    )


def implausible_table(rows: tuple[ImplausibleRow, ...], tz: dt.tzinfo | None) -> Table:
    """The period's implausible figures, for ``state``."""
    return Table(
        title="Implausible usage reported in the period (counted as its bound)",
        headers=("time", "request", "deployment", "tokens", "reported", "counted"),
        rows=tuple(
            (
                local_time(r.at, tz),
                r.request_id,
                r.deployment,
                r.kind,
                f"{r.reported:,}",
                f"{r.counted:,}",
            )
            for r in rows
        ),
        note=(
            "a figure above the call's max_tokens, the model's context window or "
            f"{MAX_REPLY_TOKENS:,} is counted as that bound; the backend's own figure is "
            "kept in the log"
        ),
    )


def _rows(event: AttemptSucceeded) -> list[ImplausibleRow]:
    rows: list[ImplausibleRow] = []
    figures = (
        ("completion", event.reported_completion_tokens, event.completion_tokens),
        ("prompt", event.reported_prompt_tokens, event.prompt_tokens),
    )
    for kind, reported, counted in figures:
        if reported is not None:
            rows.append(
                ImplausibleRow(
                    at=event.at,
                    request_id=event.request_id,
                    deployment=event.deployment,
                    kind=kind,
                    reported=reported,
                    counted=counted or 0,
                )
            )
    return rows


def _line(kind: str, reported: int, counted: int) -> str:
    return f"{kind} tokens {reported:,} reported, counted as {counted:,} (implausible)"
