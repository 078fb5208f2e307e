"""``inspect LOG explain REQUEST_ID``: one request, reconstructed from the log alone.

The shell: find the request (a unique prefix of its id is enough), read its stream and
the health changes of the deployments it involved, hand them to the pure
``_explain_model.explain`` and print the result as text or JSON.
"""

from __future__ import annotations

import collections
from typing import TextIO

from events import (
    HEALTH_STREAM_PREFIX,
    REQUEST_STREAM_PREFIX,
    AttemptStarted,
    CandidateSkipped,
    FallbackSwitched,
    RequestStarted,
    SqliteEventLog,
    StoredEvent,
)
from runtime.inspect._errors import InspectError
from runtime.inspect._explain_model import explain
from runtime.inspect._explain_render import render_explanation
from runtime.inspect._range import compaction_note
from runtime.inspect._render import Style, dumps_json
from runtime.inspect._timeline_model import CHANGE_TYPES

__all__ = ["HEALTH_CHANGES", "find_request", "health_of", "run_explain"]

HEALTH_CHANGES = tuple(cls.__name__ for cls in CHANGE_TYPES)
"""Type names of the health events that change (or reset) a deployment's status."""

_RECENT = 5


async def run_explain(
    log: SqliteEventLog, request_id: str, *, json: bool, style: Style, out: TextIO
) -> int:
    """Print how request ``request_id`` (or the one request it prefixes) was served.

    Raises:
        InspectError: The log is empty, or no request / several requests match.
    """
    rid = await find_request(log, request_id)
    events = [e async for e in log.read(stream=REQUEST_STREAM_PREFIX + rid)]
    health = await health_of(log, events)
    try:
        explanation = explain(events, health)
    except ValueError as exc:  # a stream whose start this release cannot read (or is gone)
        gone = await compaction_note(log)
        why = f"{exc}" + (f"; {gone}: its first events may be among them" if gone else "")
        raise InspectError(f"request {rid} cannot be explained: {why}") from None
    if json:
        out.write(dumps_json(explanation) + "\n")
    else:
        out.write(render_explanation(explanation, style) + "\n")
    return 0


async def find_request(log: SqliteEventLog, prefix: str) -> str:
    """The full id of the request ``prefix`` names: itself, or the one it starts.

    Raises:
        InspectError: Empty log, empty prefix, no match (listing recent ids) or
            several matches.
    """
    wanted = prefix.strip()
    if not wanted:
        raise InspectError("give a request id (or the start of one) to explain")
    async for _ in log.read(stream=REQUEST_STREAM_PREFIX + wanted, limit=1):
        return wanted
    matches: list[str] = []
    recent: collections.deque[str] = collections.deque(maxlen=_RECENT)
    async for stored in log.read(types=[RequestStarted.__name__]):
        if isinstance(stored.event, RequestStarted):
            recent.append(stored.event.request_id)
            if stored.event.request_id.startswith(wanted):
                matches.append(stored.event.request_id)
    if len(matches) == 1:
        return matches[0]
    if matches:
        shown = ", ".join(matches[:_RECENT]) + (", ..." if len(matches) > _RECENT else "")
        raise InspectError(
            f"request id prefix {wanted!r} matches {len(matches)} requests ({shown}); "
            "give more of the id"
        )
    raise InspectError(await _not_found(log, wanted, list(recent)))


async def _not_found(log: SqliteEventLog, wanted: str, recent: list[str]) -> str:
    if await log.last_position() == 0:
        return "the log is empty: no request has been recorded yet"
    gone = await compaction_note(log)
    if gone:
        return f"no request {wanted!r} among the events the log still holds; {gone}"
    where = "find request ids with: tail --type RequestStarted"
    if not recent:
        return f"no request {wanted!r}: this log records no requests at all"
    return f"no request {wanted!r} in the log; most recent: {', '.join(reversed(recent))} ({where})"


def _involved(events: list[StoredEvent]) -> list[str]:
    """Every deployment the request planned, skipped, tried or fell back to."""
    found: dict[str, None] = {}
    for stored in events:
        match stored.event:
            case RequestStarted(candidates=dids) | FallbackSwitched(candidates=dids):
                found.update(dict.fromkeys(dids))
            case CandidateSkipped(deployment=did) | AttemptStarted(deployment=did):
                found[did] = None
    return list(found)


async def health_of(log: SqliteEventLog, events: list[StoredEvent]) -> list[StoredEvent]:
    """Status changes of the involved deployments, up to the request's last event.

    A request's events are committed when it ends, after the health events it caused,
    so its last position bounds them; the pure code picks the ones inside its time span
    (and of the deployments the request reached: ``_explain_model``).
    """
    if not events:
        return []
    last = events[-1].position
    found: list[StoredEvent] = []
    for did in _involved(events):
        stream = HEALTH_STREAM_PREFIX + did
        found += [e async for e in log.read(stream=stream, types=HEALTH_CHANGES, to_position=last)]
    return sorted(found, key=lambda e: e.position)


_health_of = health_of
"""The name ``health_of`` had before it was public (the web view imports it)."""
