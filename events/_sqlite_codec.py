"""The SQLite log's compact payloads (file format 2) and its table of type names.

A registry encodes an event as msgspec JSON that starts with its tag,
``{"type":"Name",...}``. The file stores the type once, in ``log_types`` (an integer id
per name), and the payload after that tag key (``,...}``), deflated (raw deflate, no
header) with a *preset dictionary* per type: the first payload of that type this file
stored. Field names and repeated values then cost a back-reference of two or three
bytes, so a typical runtime event shrinks from ~250 bytes of JSON to ~40. Decoding puts
the tag back, so readers (and ``UnknownEvent.payload``, and upcasters) get the
registry's JSON byte for byte.

Stored payload: one format byte, then the body. ``b"z"``: the deflated rest after the
tag key; ``b"j"``: the registry's JSON as given (anything not starting with its tag).
Cost (measured): ~2.5-4.5 us to pack an event, ~0.7 us to unpack one.
"""

from __future__ import annotations

import sqlite3
import threading
import zlib
from dataclasses import dataclass, field
from typing import Any

__all__ = ["TypeInfo", "TypeTable", "pack", "unpack"]

_WBITS = -11
"""Raw deflate with a 2 KiB window: the dictionary and one payload fit in it, and a
small window keeps ``compressobj`` cheap (measured ~4 us per event, ~0.7 us to inflate)."""
_MEM_LEVEL = 2
_LEVEL = 6
_DICTIONARY_MAX = 1_500
"""A type's dictionary is at most this many bytes of its first payload."""
_DEFLATED = b"z"
_AS_GIVEN = b"j"


@dataclass(frozen=True, slots=True)
class TypeInfo:
    """One row of ``log_types``: its id, name and the payloads' preset dictionary."""

    id: int
    name: str
    dictionary: bytes
    prefix: bytes
    """``{"type":"Name"``: what the registry's JSON starts with for this type."""
    deflate: Any = field(init=False, repr=False, compare=False)
    """A compressor with the dictionary loaded: each payload starts from a copy."""
    inflate: Any = field(init=False, repr=False, compare=False)
    """A decompressor with the dictionary loaded, likewise."""

    def __post_init__(self) -> None:
        deflate = zlib.compressobj(
            _LEVEL, zlib.DEFLATED, _WBITS, _MEM_LEVEL, zlib.Z_DEFAULT_STRATEGY, self.dictionary
        )
        object.__setattr__(self, "deflate", deflate)
        object.__setattr__(self, "inflate", zlib.decompressobj(_WBITS, self.dictionary))


def tag_prefix(name: str) -> bytes:
    """The start of the registry's JSON for type ``name`` (its tag key)."""
    from msgspec import json

    return b'{"type":' + json.encode(name)


def strip(prefix: bytes, payload: bytes) -> bytes | None:
    """``payload`` after its tag key (from the ``,`` or ``}`` on), or None if it does
    not start with it."""
    if not payload.startswith(prefix):
        return None
    rest = payload[len(prefix) :]
    return rest if rest[:1] in (b",", b"}") else None


def pack(info: TypeInfo, payload: bytes) -> bytes:
    """The stored form of ``payload`` (the registry's JSON of an event of ``info``'s type)."""
    body = strip(info.prefix, payload)
    if body is None:
        return _AS_GIVEN + payload
    deflate = info.deflate.copy()
    packed: bytes = _DEFLATED + deflate.compress(body) + deflate.flush()
    return packed


def unpack(info: TypeInfo, stored: bytes) -> bytes:
    """The registry's JSON back from a stored payload; ``ValueError`` if damaged."""
    kind = stored[:1]
    if kind == _AS_GIVEN:
        return stored[1:]
    if kind != _DEFLATED:
        raise ValueError(f"unknown payload format {kind!r}")
    try:
        inflate = info.inflate.copy()
        body: bytes = inflate.decompress(stored[1:])
    except zlib.error as exc:
        raise ValueError(f"damaged payload: {exc}") from None
    if not inflate.eof:
        raise ValueError("damaged payload: truncated")
    return info.prefix + body


def first_dictionary(payload: bytes, prefix: bytes) -> bytes:
    """The dictionary a new type gets: its first payload, tag key removed, capped."""
    body = strip(prefix, payload)
    return (body if body is not None else payload)[:_DICTIONARY_MAX]


class TypeTable:
    """The ``log_types`` rows this process has seen (types are only ever added).

    Shared by a log's writer and readers (each loads what it misses from its own
    connection, in its own thread; a lock keeps the two dicts consistent).
    """

    def __init__(self) -> None:
        self._by_id: dict[int, TypeInfo] = {}
        self._by_name: dict[str, TypeInfo] = {}
        self._lock = threading.Lock()

    def by_id(self, type_id: int) -> TypeInfo | None:
        """A known type by id (None: not loaded yet)."""
        return self._by_id.get(type_id)

    def by_name(self, name: str) -> TypeInfo | None:
        """A known type by name (None: not loaded yet, or not in the file)."""
        return self._by_name.get(name)

    def add(self, info: TypeInfo) -> None:
        """Remember a type row (committed to the file)."""
        with self._lock:
            self._by_id[info.id] = info
            self._by_name[info.name] = info

    def load(self, conn: sqlite3.Connection) -> None:
        """Load every type row (in the connection's thread; there are few)."""
        rows = conn.execute("SELECT id, name, dictionary FROM log_types ORDER BY id").fetchall()
        for type_id, name, dictionary in rows:
            if type(name) is str and type(dictionary) is bytes:
                self.add(TypeInfo(type_id, name, dictionary, tag_prefix(name)))

    def ensure(self, conn: sqlite3.Connection, ids: set[int]) -> None:
        """Load the rows of ``ids`` not known yet (their names and dictionaries)."""
        if any(i not in self._by_id for i in ids):
            self.load(conn)
