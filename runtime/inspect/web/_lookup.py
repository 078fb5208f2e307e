"""Which request a ``request/<id>`` page shows: the id itself, or the one it prefixes.

The index knows every request the view has read, so a prefix is matched in memory;
``runtime.inspect._explain.find_request`` (the log's own search, as ``inspect explain``
uses it) has the last word on a small log, where its messages name recent ids and
compaction. On a large log an unknown id is only looked up by its stream, because
reading every ``RequestStarted`` again would make a mistyped id take seconds.
"""

from __future__ import annotations

from typing import Any

from events import REQUEST_STREAM_PREFIX, EventLog
from runtime.inspect._errors import InspectError
from runtime.inspect._explain import find_request
from runtime.inspect._requests_model import RequestFold

__all__ = ["SEARCH_LOG_BELOW", "BadQuery", "find_request_id"]

SEARCH_LOG_BELOW = 20_000
"""Requests in the index below which an unknown id is also searched in the log itself."""
_SHOWN = 5


class BadQuery(InspectError):
    """A page's query parameter or path names something it cannot use (HTTP 400); the
    message says which and what to give instead."""


async def find_request_id(requests: RequestFold, log: EventLog, wanted: str) -> str:
    """The full id of the request ``wanted`` names (itself or a unique prefix).

    Raises:
        BadQuery: ``wanted`` is empty or prefixes several requests.
        InspectError: No request has that id or prefix (the message says so).
    """
    if not wanted:
        raise BadQuery("give a request id (or the start of one)")
    if requests.get(wanted) is not None:
        return wanted
    matches = [row.request_id for row in requests.rows() if row.request_id.startswith(wanted)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        shown = ", ".join(matches[:_SHOWN]) + (", ..." if len(matches) > _SHOWN else "")
        raise BadQuery(
            f"request id prefix {wanted!r} matches {len(matches)} requests ({shown}); "
            "give more of the id"
        )
    if len(requests) > SEARCH_LOG_BELOW:
        async for _ in log.read(stream=REQUEST_STREAM_PREFIX + wanted, limit=1):
            return wanted
        raise InspectError(
            f"no request {wanted!r} among the {len(requests):,} requests of the log; "
            "the Slowest and Failed pages list request ids"
        )
    reader: Any = log  # find_request takes any EventLog (annotated with SQLite's)
    return await find_request(reader, wanted)
