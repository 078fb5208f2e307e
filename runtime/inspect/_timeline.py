"""``inspect LOG timeline [MODEL]``: quarantine and recovery history per deployment.

The shell: read the health status changes (optionally of one model's deployments, or of
one deployment ``model@endpoint``) and the time of the log's last events (an episode
still going is measured up to it), build the pure ``Timeline`` and print it.
"""

from __future__ import annotations

from typing import TextIO

from events import SqliteEventLog, StoredEvent, split_deployment
from runtime.inspect._errors import InspectError
from runtime.inspect._explain import HEALTH_CHANGES
from runtime.inspect._render import Style, dumps_json
from runtime.inspect._timeline_model import build_timeline
from runtime.inspect._timeline_render import render_timeline

__all__ = ["log_end", "run_timeline"]

_LAST_EVENTS = 100
"""How many of the last events ``log_end`` looks at for the latest time."""


async def run_timeline(
    log: SqliteEventLog, model: str | None, *, json: bool, style: Style, out: TextIO
) -> int:
    """Print the health history of every deployment, or of ``model``'s.

    Raises:
        InspectError: The log is empty, or ``model`` has no recorded health changes.
    """
    if await log.last_position() == 0:
        raise InspectError("the log is empty: nothing has been recorded yet")
    events = [e async for e in log.read(types=HEALTH_CHANGES)]
    if model is not None:
        events = _only(events, model.strip())
    timeline = build_timeline(events, end=await log_end(log))
    if json:
        out.write(dumps_json(timeline) + "\n")
    else:
        out.write(render_timeline(timeline, style) + "\n")
    return 0


async def log_end(log: SqliteEventLog) -> float | None:
    """The latest time the log knows of: the largest ``at`` among its last events.

    Events carry the writer's clock in ``at`` (health changes are timed by it too), which
    need not be the clock that stamped the commit ``timestamp`` (a test's virtual clock):
    events without ``at`` (actor supervision) are skipped. Several writers may commit
    slightly out of time order, hence the maximum over the last few events.
    """
    last = await log.last_position()
    latest: float | None = None
    async for stored in log.read(max(1, last - _LAST_EVENTS + 1), to_position=last):
        at = getattr(stored.event, "at", None)
        if isinstance(at, float):
            latest = at if latest is None else max(latest, at)
    return latest


def _only(events: list[StoredEvent], wanted: str) -> list[StoredEvent]:
    """The events of ``wanted``'s deployments (a model name or a ``model@endpoint``)."""
    chosen: list[StoredEvent] = []
    seen: set[str] = set()
    for stored in events:
        did = getattr(stored.event, "deployment", None)
        if not isinstance(did, str):
            continue
        seen.add(did)
        if did == wanted or _model(did) == wanted:
            chosen.append(stored)
    if not chosen:
        known = sorted({_model(d) for d in seen})
        listed = ", ".join(known) if known else "none yet"
        raise InspectError(
            f"no health changes recorded for {wanted!r}; models with changes: {listed} "
            "(a deployment is named model@endpoint)"
        )
    return chosen


def _model(did: str) -> str:
    try:
        return split_deployment(did)[0]
    except ValueError:
        return did
