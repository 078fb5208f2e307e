"""``python -m runtime.admin``: operator actions on deployment health.

Run it::

    python -m runtime.admin --serve http://127.0.0.1:8080 reset-health llama3 [--reason R]
    python -m runtime.admin --serve http://127.0.0.1:8080 probe llama3@local
    python -m runtime.admin --config llm.yaml reset-health local     # no serve running

``reset-health TARGET`` resets TARGET's deployments to ``unknown`` (a quarantine is
lifted at once); ``probe TARGET`` runs the health check now and counts its outcome (a
pass clears a quarantine: ``runtime._probe``). TARGET is a model (name or alias),
``model@endpoint`` or an endpoint name.

With ``--serve URL`` (or ``LLMRT_SERVE_URL``) the command calls that serve's
``POST /admin/health/reset`` / ``/admin/health/probe`` with its bearer key from
``--api-key-env NAME`` (default ``LLMRT_API_KEY``, if set) or ``--api-key-file FILE``;
the key is never taken from the command line. Without a serve, ``--config FILE``:
``reset-health`` appends the ``HealthReset`` events to the config's event log (the next
start begins with the deployments reset), ``probe`` starts the runtime briefly
(``runtime.admin._offline``); never while a runtime runs on that log.

``compact LOG [--retain 30d | --through POSITION] [--dry-run]`` deletes old events of a
log file behind fresh snapshots of the runtime's state (``runtime.admin._compact``).

``backup LOG DEST [--force]`` copies a log file with SQLite's online backup API inside
one read snapshot (safe beside a running runtime), verifies the copy like ``inspect
verify`` and only then gives it DEST's name (``runtime.admin._backup``). Copying the
file alone is no backup: the newest commits may live in its ``-wal``. For a PostgreSQL
log use ``pg_dump``.

Exit status: 0 done; 1 ``probe``: a check failed; 2 bad command line, config, key or
target (malformed or unknown), or the key was refused; 3 the serve could not be reached
or answered an error, or the event log or runtime could not be opened. Errors are one
``error: ...`` line on stderr, never a traceback.
"""

from __future__ import annotations

from runtime.admin._cli import main

__all__ = ["main"]
