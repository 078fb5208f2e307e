"""Where the demo's narration goes: lines, headings and a live status line.

On a terminal the status line of a running phase is redrawn in place with ``\\r`` (padded
with spaces, no cursor escape codes) and event lines printed meanwhile appear above it.
Anywhere else (a pipe, a CI log) nothing is redrawn: only whole lines are written, with
no ``\\r`` and no ANSI codes, so the output reads the same in a file.
"""

from __future__ import annotations

import os
import shutil
from typing import TextIO

from events import Event
from runtime._demo_text import event_line, paint

__all__ = ["Narrator", "OutputClosed", "wants_color"]


class OutputClosed(Exception):
    """Nobody reads the narration any more (``python -m runtime.demo | head``): stop."""


def wants_color(stream: TextIO, *, no_color: bool) -> bool:
    """Colour only on a terminal, unless ``--no-color`` or ``NO_COLOR`` says otherwise."""
    if no_color or os.environ.get("NO_COLOR"):
        return False
    return _is_tty(stream)


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):  # closed or not a real file
        return False


class Narrator:
    """Writes the demo's lines to one stream; see the module docstring."""

    def __init__(self, stream: TextIO, *, tty: bool | None = None, color: bool = False) -> None:
        """Narrate to ``stream``.

        Args:
            stream: Where every line goes.
            tty: Redraw a status line in place; detected from ``stream`` if None.
            color: Use ANSI colours (only sensible on a terminal).
        """
        self._stream = stream
        self.tty = _is_tty(stream) if tty is None else tty
        self.color = color
        self._status = ""
        self.closed = False
        """The reader went away (a broken pipe); nothing more is written."""

    def check(self) -> None:
        """Raise ``OutputClosed`` once the reader went away, so the demo stops early.

        Writes themselves never raise: they also run in event callbacks, where an
        exception would only be logged.
        """
        if self.closed:
            raise OutputClosed("the output was closed")

    def paint(self, text: str, style: str | None) -> str:
        """``text`` in ``style`` if colour is on."""
        return paint(text, style, color=self.color)

    def say(self, text: str = "", style: str | None = None) -> None:
        """Write one line (above the status line, which is redrawn after it)."""
        self._clear_status()
        self._write(self.paint(text, style) + "\n")
        self._draw_status()

    def heading(self, step: int, steps: int, title: str) -> None:
        """A blank line and ``[step/steps] title`` in bold."""
        self.say()
        self.say(f"[{step}/{steps}] {title}", "bold")

    def event(self, event: Event) -> None:
        """Narrate ``event`` if it is news (a callback for ``Runtime.on``)."""
        line = event_line(event)
        if line is not None:
            text, style = line
            self.say(f"  {text}", style)

    def status(self, line: str) -> None:
        """Show ``line`` as the live status (terminal only; ignored elsewhere)."""
        if not self.tty:
            return
        old, self._status = self._status, _fit(line)
        # One write: the new line padded over whatever the old one left visible.
        self._write("\r" + self._status.ljust(len(old)))

    def end_status(self) -> None:
        """Remove the status line (the phase prints its own summary line after)."""
        self._clear_status()
        self._status = ""

    def _clear_status(self) -> None:
        if self.tty and self._status:
            self._write("\r" + " " * len(self._status) + "\r")

    def _draw_status(self) -> None:
        if self.tty and self._status:
            self._write(self._status)

    def _write(self, text: str) -> None:
        if self.closed:
            return
        try:
            self._stream.write(text)
            self._stream.flush()
        except (BrokenPipeError, ValueError):  # the reader left, or the stream is closed
            self.closed = True


def _fit(line: str) -> str:
    """Cut ``line`` to the terminal's width: a wrapped line cannot be redrawn in place."""
    width = shutil.get_terminal_size((80, 24)).columns - 1
    return line if len(line) <= width else line[: max(0, width - 3)] + "..."
