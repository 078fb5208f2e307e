"""Errors of the model catalog.

::

    CatalogError
    └── ModelNotFoundError    no configured endpoint of the model lists it
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from events import LLMRuntimeError

__all__ = ["CatalogError", "ModelNotFoundError"]


class CatalogError(LLMRuntimeError):
    """Root of the catalog's errors."""


class ModelNotFoundError(CatalogError):
    """The model is not served by any of its endpoints (per their cached model lists).

    Not retryable and no health penalty: the request asked for something that does not
    exist, which is not the backend's fault.

    Attributes:
        model: The model asked for.
        endpoints: Endpoint name -> URL of the endpoints that were checked.
        available: Sorted model names those endpoints do serve.
    """

    def __init__(self, model: str, endpoints: Mapping[str, str], available: Iterable[str]) -> None:
        self.model = model
        self.endpoints = dict(endpoints)
        self.available = tuple(sorted(set(available)))
        where = " or ".join(f"{name} ({url})" for name, url in self.endpoints.items())
        listed = ", ".join(self.available) or "none"
        super().__init__(f"{model!r} is not served by {where}; available: {listed}")
