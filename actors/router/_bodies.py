"""Opt-in bodies: the request's messages and the reply, masked, on the request's events.

With ``event_log.store_bodies`` the runtime hands the driver a ``Mask`` (its secret
redaction: ``sk-...`` keys, bearer tokens, ``api_key=...``); ``with_bodies`` then fills
``RequestStarted.prompt`` and ``RequestSucceeded.content`` of a request's events, every
string passed through the mask first. Without it (the default) nothing of the bodies is
stored: only ``prompt_chars``/``prompt_hash`` and reply lengths. The mask comes in as a
function so that this layer needs nothing from ``runtime``. Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import msgspec

from actors.router._types import RouteRequest
from events import BodyMessage, Event, RequestStarted, RequestSucceeded

__all__ = ["Mask", "with_bodies"]

Mask = Callable[[str], str]
"""Masks the secrets in one text (the runtime passes its redaction)."""


def with_bodies(
    events: Sequence[Event], request: RouteRequest, reply: str | None, mask: Mask
) -> Sequence[Event]:
    """``events`` with the bodies filled in, masked.

    Args:
        events: Events of one request, as the machine or the router produced them.
        request: The request (its messages go to ``RequestStarted.prompt``).
        reply: The reply text for ``RequestSucceeded.content``; None leaves it out
            (streams).
        mask: Masks secrets in a text.

    Returns:
        The same events, ``RequestStarted``/``RequestSucceeded`` replaced by copies.
    """
    if not any(isinstance(e, RequestStarted | RequestSucceeded) for e in events):
        return events
    replace = msgspec.structs.replace
    out: list[Event] = []
    for event in events:
        if isinstance(event, RequestStarted):
            prompt = tuple(BodyMessage(role=m.role, content=mask(m.text)) for m in request.messages)
            event = replace(event, prompt=prompt)
        elif isinstance(event, RequestSucceeded) and reply is not None:
            event = replace(event, content=mask(reply))
        out.append(event)
    return out
