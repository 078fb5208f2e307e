"""The HTTP facade: OpenAI- and Ollama-compatible routes over one ``Runtime``.

Run it::

    LLMRT_API_KEY=... python -m runtime.serve --config llm.yaml [--host 127.0.0.1]
        [--port 8080] [--api-key-env NAME | --api-key-file FILE] [--max-body-bytes N]
        [--max-tokens N] [--max-messages N] [--request-timeout S] [--max-concurrency N]
        [--max-connections N] [--max-connections-per-client N] [--header-timeout S]
        [--keep-alive-timeout S] [--loop asyncio|uvloop] [--no-ui] [--ui-keep SECONDS]
        [--log-json] [--log-level info]

``--loop uvloop`` runs on uvloop (``pip install 'llm-reliability-runtime[uvloop]'``; the
``serve.started`` log line names the loop).

It prints ``serving on http://HOST:PORT`` once listening (``--port 0``: any free port)
and shuts down cleanly on SIGINT/SIGTERM (in-flight responses get 10 s, then the
Runtime is closed and its event log flushed). Exit status: 0 after a signal, 1 if the
runtime or server could not start, 2 for a bad command line, config, key or setting.

Routes (all behind the key when one is set, ``/health`` and ``/metrics`` included)::

    POST /v1/chat/completions     OpenAI chat; "stream": true for SSE ending in [DONE]
    POST /v1/embeddings           OpenAI embeddings; float or base64 vectors
    GET  /v1/models               every name rt.list_models() routes
    POST /api/chat                Ollama chat; NDJSON stream by default, "stream": false
    POST /api/generate            Ollama generate: prompt (+ system, images) as one turn
    POST /api/embed               Ollama embeddings (/api/embeddings: the legacy form)
    GET  /api/tags                every name rt.list_models() routes, Ollama-shaped
    POST /api/show                a model's details, from its Ollama backend if it has one
    GET  /api/ps                  the models the Ollama backends have loaded
    GET  /api/version             the highest Ollama backend version (else serve's own)
    GET  /health                  rt.health() as JSON: 200 if any model is usable, else 503
    GET  /metrics                 Prometheus text: llmrt_* runtime and llmrt_http_* families
    GET  /performance-metrics     rt.performance(); ?kind=K (alias ?agent_type=K) for one
                                  task kind
    POST /admin/health/reset      {"target": T, "reason": R?}: rt.reset_health(T), e.g. to
                                  lift a quarantine now; 200 with the deployments reset
    POST /admin/health/probe      {"target": T}: rt.probe(T), the health check run now and
                                  counted (a pass clears a quarantine); 200 with results
    GET  /ui/                     the web view of the log (``inspect LOG web``'s pages),
                                  live; a browser logs in with any user name and the key
                                  as password (HTTP Basic); ``--no-ui`` leaves it out;
                                  it keeps the last ``--ui-keep`` seconds (a day) in memory

Operator routes: ``T`` is a model (name or alias), ``model@endpoint`` or an endpoint
name; a malformed body or target gets 400 naming the field, a target naming nothing
configured 404 (``unknown_target``). ``python -m runtime.admin`` calls them (see there).

The ``model`` of a request is a role name (its fallback chain is used), or a model name
or alias ``rt.list_models()`` lists; a role wins a tie. Unknown names get 404 listing
what exists. Every request parameter reaches the runtime (tools, tool_choice,
response_format / format, stop, seed, top_p, top_k, penalties, logprobs, backend
options such as num_ctx and keep_alive; OpenAI fields serve does not know go in
``options``): a backend that cannot take one makes the call fail with 400 naming it,
nothing is dropped. Serve never sets ``max_tokens`` itself: ``--max-tokens`` only
refuses larger requests. An optional ``kind`` body field (OpenAI: also
``metadata.kind``) labels the request's task kind for performance routing. ``model``
in replies is the model that answered; ``x-request-id``, ``x-llmrt-model`` and
``x-llmrt-endpoint`` headers tell the runtime's request id and where the answer came
from. Fallbacks are invisible to clients: only a request every candidate failed gets
an error (502, or 503 when none was available), marked ``x-should-retry: false``
since the runtime already retried.

Security: listens on 127.0.0.1 by default and refuses any other
address without a key of at least 16 characters; the key comes from an environment
variable (``--api-key-env``, default ``LLMRT_API_KEY``) or a file, never the command
line; it is compared in constant time on every route; a key in the query string
(``?key=``, ``?api_key=``, ``?token=``...) is refused with 400; bodies over
``--max-body-bytes`` (1 MiB; chunked ones too) get 413; ``max_tokens`` over the cap
(32768), too many or too long messages, malformed JSON and wrong types get 400 naming
the field; a body that tries to set a backend (``base_url``, ``api_key``, ``url``,
``headers``... see ``BACKEND_FIELDS``) gets 400: backends come from the config only.
A client that disconnects has its runtime request cancelled.
Connections: a request head must arrive within ``--header-timeout`` (10 s) of connecting
or of the previous response (408), an idle connection is closed after
``--keep-alive-timeout`` (5 s); at ``--max-connections`` (1024) in all or
``--max-connections-per-client`` (64) from one address, a new connection replaces the
one that has waited longest without a request (answered 503 ``too_many_connections``),
so idle or slow connections cannot lock out a client that sends its request;
``--max-concurrency`` (256) counts requests being served, not open connections.

Embedding::

    async with Runtime.from_config("llm.yaml") as rt:
        app = create_app(rt, ServeSettings(api_key=key))   # any ASGI server can run it
"""

from __future__ import annotations

from runtime.serve._app import ROUTES, create_app
from runtime.serve._cli import main
from runtime.serve._limits import BACKEND_FIELDS
from runtime.serve._settings import ServeSettings, ServeSettingsError

__all__ = ["BACKEND_FIELDS", "ROUTES", "ServeSettings", "ServeSettingsError", "create_app", "main"]
