"""A fault-injecting fake LLM backend speaking the Ollama and OpenAI wire formats.

For tests, benchmarks and the demo: a real HTTP/1.1 server on 127.0.0.1 that answers
``/api/chat``, ``/api/generate``, ``/api/embed``, ``/api/embeddings``, ``/api/tags``,
``/api/show``, ``/api/ps``, ``/api/version``, ``/v1/chat/completions``,
``/v1/completions``, ``/v1/embeddings`` and ``/v1/models`` with deterministic text and
vectors, and misbehaves on demand (see `Fault`).

It can play agent traffic: scripted tool calls (`ScriptedReply`, `ScriptedToolCall`,
`ChaosServer.script_tool_round_trip`), JSON / JSON-Schema structured output when a
request asks for it, and `ChaosServer.received` for asserting what clients sent.
Run it alone with ``python -m runtime.testing --help``.
"""

from __future__ import annotations

from runtime.testing._faults import FAULT_KINDS, Fault, FaultKind, FaultSpecError, Flavor
from runtime.testing._routes import API_ROUTES, ChaosStats
from runtime.testing._script import ScriptedReply, ToolRoundTrip
from runtime.testing._server import HOST, ChaosServer
from runtime.testing._tools import ScriptedToolCall

__all__ = [
    "API_ROUTES",
    "FAULT_KINDS",
    "HOST",
    "ChaosServer",
    "ChaosStats",
    "Fault",
    "FaultKind",
    "FaultSpecError",
    "Flavor",
    "ScriptedReply",
    "ScriptedToolCall",
    "ToolRoundTrip",
]
