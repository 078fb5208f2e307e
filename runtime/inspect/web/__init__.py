"""The web view of an event log: ``python -m runtime.inspect LOG web`` and serve's ``/ui``.

``WebView`` is the ASGI app (Starlette) over a ``WebIndex`` that follows the log; pages
are HTML with server-rendered SVG charts and one small script of ours (no library, no
CDN: it works offline). ``add_web_parser``/``run_web`` are the ``inspect`` command.
"""

from __future__ import annotations

from runtime.inspect.web._app import WebView
from runtime.inspect.web._command import add_web_parser, run_web

__all__ = ["WebView", "add_web_parser", "run_web"]
