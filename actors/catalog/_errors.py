"""Errors of the model catalog.

::

    CatalogError
    └── ModelNotFoundError    no configured endpoint of the model lists it
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

from events import LLMRuntimeError

__all__ = ["CatalogError", "ModelNotFoundError"]


class CatalogError(LLMRuntimeError):
    """Root of the catalog's errors."""


class ModelNotFoundError(CatalogError):
    """The model is not served by any of its endpoints (per their cached model lists),
    or the name is neither configured nor discovered.

    Not retryable and no health penalty: the request asked for something that does not
    exist, which is not the backend's fault. The message lists what the backends do
    serve (their model lists) and the configured names, and the closest of them.

    Attributes:
        model: The model asked for.
        endpoints: Endpoint name -> URL of the endpoints that were checked.
        available: Sorted model names those endpoints do serve (their lists).
        configured: Configured model names and aliases (empty when not given).
        suggestions: The names closest to ``model`` among both, best first.
    """

    def __init__(
        self,
        model: str,
        endpoints: Mapping[str, str],
        available: Iterable[str],
        configured: Iterable[str] = (),
    ) -> None:
        self.model = model
        self.endpoints = dict(endpoints)
        self.available = tuple(sorted(set(available)))
        self.configured = tuple(dict.fromkeys(configured))
        known = list(dict.fromkeys((*self.configured, *self.available)))
        self.suggestions = tuple(difflib.get_close_matches(model, known, n=3, cutoff=0.6))
        where = " or ".join(f"{name} ({url})" for name, url in self.endpoints.items())
        listed = ", ".join(self.available) or "none"
        text = f"{model!r} is not served by {where}; available: {listed}"
        if self.configured:
            text += f"; configured: {', '.join(self.configured)}"
        if self.suggestions:
            text += f"; did you mean {' or '.join(repr(s) for s in self.suggestions)}?"
        super().__init__(text)
