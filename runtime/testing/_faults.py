"""Fault specifications and the book that decides which fault hits which request.

A `Fault` is a frozen, validated description of one misbehaviour; a `FaultBook` holds
the faults installed globally and per model and picks, for each incoming request,
at most one fault to inject (per-model faults win over global ones).
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal, get_args

import msgspec

from events import LLMRuntimeError

FaultKind = Literal[
    "latency",
    "slow_first_byte",
    "slow_trickle",
    "http_error",
    "rate_limit",
    "model_not_found",
    "out_of_memory",
    "context_overflow",
    "reset",
    "truncate",
    "malformed",
    "error_in_stream",
    "html_200",
    "hang",
    "huge",
]
"""Every kind of fault the chaos backend can inject."""

Flavor = Literal["ollama", "openai", "llamacpp"]
"""Whose error body to imitate; `None` on a fault means the dialect of the route hit."""

FAULT_KINDS: Final[tuple[str, ...]] = get_args(FaultKind)

# Kinds that need a delay to mean anything.
_DELAY_KINDS: Final = frozenset({"latency", "slow_first_byte", "slow_trickle"})


class FaultSpecError(LLMRuntimeError, ValueError):
    """A fault specification is invalid (raised by `Fault` and by the admin route)."""


class Fault(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One fault to inject into responses.

    Example: ``Fault(kind="http_error", status=503, every_nth=3)`` fails every third
    matching request with a 503 in the dialect of the route that was hit.
    """

    kind: FaultKind
    """What goes wrong (see `FaultKind`)."""
    status: int | None = None
    """HTTP status for ``http_error`` (400-599); ignored by the other kinds."""
    probability: float = 1.0
    """Chance in [0, 1] that a matching request is hit (seeded by the server's seed)."""
    every_nth: int | None = None
    """Hit only every Nth matching request (the Nth, 2Nth, ...); None means every one."""
    count: int | None = None
    """Hit only the next N matching requests, then the fault removes itself."""
    after_chunks: int = 0
    """For stream faults: how many good chunks are sent before the fault shows."""
    delay: float = 0.0
    """Seconds of latency / first-byte wait / pause between chunks."""
    retry_after: str | None = "1"
    """``Retry-After`` header of a ``rate_limit`` (seconds, HTTP-date or garbage)."""
    flavor: Flavor | None = None
    """Error body style for ``out_of_memory`` / ``context_overflow`` / errors."""
    size: int = 1_048_576
    """Bytes sent by ``huge`` (one line with no newline)."""
    message: str | None = None
    """Override the error message text."""

    def __post_init__(self) -> None:
        """Reject contradictory or out-of-range settings with an actionable message."""
        problem = _problem(self)
        if problem is not None:
            raise FaultSpecError(f"invalid fault {self.kind!r}: {problem}")


def _problem(fault: Fault) -> str | None:
    """Return what is wrong with `fault`, or None when it is valid."""
    if fault.kind not in FAULT_KINDS:
        return f"unknown kind; expected one of {', '.join(FAULT_KINDS)}"
    if fault.kind == "http_error" and (fault.status is None or not 400 <= fault.status <= 599):
        return f"status must be an HTTP error status 400-599, got {fault.status!r}"
    if not 0.0 <= fault.probability <= 1.0:
        return f"probability must be within [0, 1], got {fault.probability!r}"
    if fault.every_nth is not None and fault.every_nth < 1:
        return f"every_nth must be >= 1, got {fault.every_nth!r}"
    if fault.count is not None and fault.count < 1:
        return f"count must be >= 1 (use clear_faults to remove), got {fault.count!r}"
    if fault.after_chunks < 0:
        return f"after_chunks must be >= 0, got {fault.after_chunks!r}"
    if not fault.delay >= 0.0 or fault.delay == float("inf"):
        return f"delay must be a finite number of seconds >= 0, got {fault.delay!r}"
    if fault.kind in _DELAY_KINDS and fault.delay == 0.0:
        return "delay must be > 0 for this kind"
    if fault.size < 1:
        return f"size must be >= 1 byte, got {fault.size!r}"
    return None


def decode_fault(data: object) -> Fault:
    """Build a `Fault` from decoded JSON, raising `FaultSpecError` with the key path."""
    try:
        return msgspec.convert(data, Fault)
    except msgspec.ValidationError as exc:
        raise FaultSpecError(f"invalid fault spec: {exc}") from exc


@dataclass
class _Installed:
    """A fault plus its mutable bookkeeping (matching requests seen, hits left)."""

    fault: Fault
    seen: int = 0
    left: int | None = None


class FaultBook:
    """Faults installed globally and per model; picks the fault for each request."""

    def __init__(self, seed: int) -> None:
        """Create an empty book whose probability draws are seeded by `seed`."""
        self._rng = random.Random(seed)
        self._global: list[_Installed] = []
        self._per_model: dict[str, list[_Installed]] = {}

    def set(self, faults: Iterable[Fault], *, model: str | None, append: bool) -> None:
        """Install `faults` for `model` (None: globally), replacing or appending."""
        entries = [_Installed(f, left=f.count) for f in faults]
        if model is None:
            self._global = [*self._global, *entries] if append else entries
            return
        current = self._per_model.get(model, []) if append else []
        self._per_model[model] = [*current, *entries]

    def clear(self, model: str | None = None) -> None:
        """Remove every fault (model None) or only those installed for `model`."""
        if model is None:
            self._global.clear()
            self._per_model.clear()
        else:
            self._per_model.pop(model, None)

    def installed(self) -> dict[str, list[Fault]]:
        """Return the installed faults keyed by scope ("*" is the global scope)."""
        out = {"*": [e.fault for e in self._global]}
        out.update({m: [e.fault for e in es] for m, es in self._per_model.items()})
        return out

    def pick(self, model: str | None) -> Fault | None:
        """Choose the fault for a request on `model`; per-model faults come first."""
        scopes = [self._per_model.get(model, [])] if model is not None else []
        scopes.append(self._global)
        for entries in scopes:
            for entry in list(entries):
                if self._fires(entry):
                    if entry.left is not None:
                        entry.left -= 1
                        if entry.left == 0:
                            entries.remove(entry)
                    return entry.fault
        return None

    def _fires(self, entry: _Installed) -> bool:
        """Count a matching request against `entry` and say whether it is hit."""
        entry.seen += 1
        nth = entry.fault.every_nth
        if nth is not None and entry.seen % nth != 0:
            return False
        probability = entry.fault.probability
        return probability >= 1.0 or self._rng.random() < probability
