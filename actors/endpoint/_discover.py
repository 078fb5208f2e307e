"""How many calls an endpoint should run at once, asked of the backend (I/O).

Why it matters (measured against the real llama.cpp server, see
``tests/real_backend/test_concurrency_llama.py``): llama.cpp's HTTP server
(cpp-httplib) serves each connection on one thread of a fixed pool
(``--threads-http``, by default ``--parallel`` + 2 or more) and keeps that thread on the
connection while it is kept alive, up to 5 s after its last request. A client with more
connections than the pool has threads gets its extra requests accepted but not read
until a kept-alive connection times out: with ``--parallel 4`` (6 HTTP threads) and 8
concurrent calls, one or two of them waited 5.1 s for their first byte while
llama.cpp itself was idle. With no more calls in flight than the server has slots
(``total_slots`` of ``GET /props``), the connections never outnumber its threads and
calls beyond the slots wait in the endpoint's own queue, where the wait is measured
(``CallTimings.queue_s``) instead of hidden inside the server.

* **llama.cpp** (``api: openai``): ``total_slots`` from ``GET /props``. Other
  OpenAI-compatible servers answer 404 (or something else): nothing is discovered.
* **Ollama**: it has no API that reports ``OLLAMA_NUM_PARALLEL``, so nothing is
  discovered; its Go HTTP server does not tie a thread to a connection, and requests
  beyond its parallelism queue inside Ollama (that wait shows as first-byte time).

Nothing discovered: ``DEFAULT_MAX_CONCURRENCY``.
"""

from __future__ import annotations

from actors.endpoint._classify import BackendError
from actors.endpoint._deadlines import Deadlines
from actors.endpoint._facts import parse_llama_props, props_request
from actors.endpoint._transport import EndpointTransport

__all__ = ["DEFAULT_MAX_CONCURRENCY", "DISCOVERED_MAX_CONCURRENCY", "discover_concurrency"]

DEFAULT_MAX_CONCURRENCY = 8
"""Slots of an endpoint whose ``max_concurrency`` is unset and nothing was discovered."""
DISCOVERED_MAX_CONCURRENCY = 256
"""A discovered slot count is capped at this (and so is the pool of a discovering
endpoint)."""
_ASK = Deadlines(connect=2.0, first_byte=3.0, idle=3.0, total=4.0)
"""``/props`` is answered at once by a running server; a slow one is not waited for."""


async def discover_concurrency(transport: EndpointTransport) -> int | None:
    """The number of requests the backend runs at once, or None when it cannot tell
    (Ollama, a server without ``/props``, unreachable; see the module docstring)."""
    if transport.api != "openai":
        return None
    try:  # outside any slot: a start-up question, not a call
        body = await transport.fetch(props_request(), transport.new_call(_ASK))
    except BackendError:
        return None
    props = parse_llama_props(body)
    if props.total_slots is None:
        return None
    return min(props.total_slots, DISCOVERED_MAX_CONCURRENCY)
