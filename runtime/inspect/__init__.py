"""Read-only event-log viewer: ``python -m runtime.inspect LOG COMMAND [options]``.

Commands: ``tail`` (with filters and ``--follow``), ``stats``, ``verify``, ``state``,
``explain REQUEST_ID`` and ``timeline [MODEL]``; ``--json`` on each. The log is opened
read-only, so it is safe to run beside a runtime that is writing to it.
"""

from __future__ import annotations

from runtime.inspect._cli import main

__all__ = ["main"]
