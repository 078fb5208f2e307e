"""Snapshot checksums: a snapshot is stored sealed, and only a sound seal is trusted.

Stored form: ``MAGIC`` (6 bytes), then the SHA-256 of ``name``, ``position`` and the
state (32 bytes), then the state (the projection's msgspec JSON). The checksum binds the
snapshot to its projection and log position, so a changed digit in the state, a state
copied to another position or a truncated row all fail the check. A snapshot without the
header (written before checksums existed, or by hand) is *unverified*: it is treated like
a bad one — discarded with a warning, and the events are replayed instead. That costs a
longer start once (the next snapshot is sealed) and never trusts unchecked state.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["MAGIC", "seal", "unseal"]

MAGIC = b"LLMRT1"
"""The header of a sealed snapshot (format version 1)."""

_DIGEST = 32


def _digest(name: str, position: int, state: bytes) -> bytes:
    head = f"{name}\x00{position}\x00".encode()
    return hashlib.sha256(head + state).digest()


def seal(name: str, position: int, state: bytes) -> bytes:
    """The stored form of ``state``, the snapshot of ``name`` at ``position``."""
    return MAGIC + _digest(name, position, state) + state


def unseal(name: str, position: int, data: bytes) -> tuple[bytes | None, str]:
    """The state inside a stored snapshot, or ``None`` and why it is not trusted."""
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + _DIGEST:
        return None, "no checksum (unverified snapshot)"
    stored = data[len(MAGIC) : len(MAGIC) + _DIGEST]
    state = data[len(MAGIC) + _DIGEST :]
    if not hmac.compare_digest(stored, _digest(name, position, state)):
        return None, "checksum mismatch (the snapshot was changed after it was written)"
    return state, ""
