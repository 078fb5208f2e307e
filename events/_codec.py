"""Encoding and decoding of events: a registry of types, schema versions and upcasters.

Stored form: the type name and schema version go in the envelope; the payload is the
event's msgspec JSON. Decoding picks the class by type name, upcasts old payloads step by
step to the current schema version, and returns an ``UnknownEvent`` (counted, never
raised) for a type this release does not know, a schema version newer than it writes, or
a payload that does not decode.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import msgspec

from events._base import Event, UnknownEvent
from events._secrets import mask_secrets_in_json

__all__ = ["EventRegistry", "Upcaster", "default_registry"]

E = TypeVar("E", bound=type[Event])

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
"""Turns a payload of schema version ``n`` into one of version ``n + 1``."""

_encoder = msgspec.json.Encoder()
_raw_decoder = msgspec.json.Decoder(dict[str, Any])


class EventRegistry:
    """Knows every event type by name, its current schema version, and its upcasters."""

    def __init__(self, types: Iterable[type[Event]] = ()) -> None:
        self._types: dict[str, type[Event]] = {}
        self._decoders: dict[str, msgspec.json.Decoder[Any]] = {}
        self._float_fields: dict[type[Event], tuple[str, ...]] = {}
        self._plans: dict[type[Event], tuple[str, int, tuple[str, ...]]] = {}
        """Class -> (type name, schema version, float fields): what ``encode`` needs."""
        self._upcasters: dict[tuple[str, int], Upcaster] = {}
        self.unknown_count = 0
        """How many undecodable events this registry has handed out as ``UnknownEvent``."""
        for cls in types:
            self.register(cls)

    def register(self, cls: E) -> E:
        """Register an event class (usable as a decorator); its tag is its type name."""
        name = type_name(cls)
        known = self._types.get(name)
        if known is not None and known is not cls:
            raise ValueError(
                f"event type {name!r} is already registered by {known.__module__}."
                f"{known.__qualname__}; give {cls.__qualname__} another tag"
            )
        self._types[name] = cls
        self._decoders[name] = msgspec.json.Decoder(cls)
        self._float_fields[cls] = floats = _float_fields(cls)
        self._plans[cls] = (name, cls.schema_version, floats)
        return cls

    def add_upcaster(self, name: str, from_version: int, upcaster: Upcaster) -> None:
        """Register the step from ``from_version`` to ``from_version + 1`` for ``name``."""
        if from_version < 1:
            raise ValueError(f"from_version must be >= 1, got {from_version}")
        self._upcasters[(name, from_version)] = upcaster

    def known(self, name: str) -> bool:
        """Whether ``name`` is a registered event type."""
        return name in self._types

    @property
    def types(self) -> dict[str, type[Event]]:
        """A copy of the registered types by name."""
        return dict(self._types)

    def encode(self, event: Event) -> tuple[str, int, bytes]:
        """Return ``(type name, schema version, payload)`` for storing ``event``."""
        cls = type(event)
        plan = self._plans.get(cls)
        if plan is None:  # only registered classes have a plan
            raise ValueError(
                f"event type {type_name(cls)} ({cls.__qualname__}) is not registered; call "
                "registry.register(...) on it before appending"
            )
        name, version, floats = plan
        isfinite = math.isfinite
        for field in floats:
            # JSON has no NaN/inf: msgspec would write null, and the stored event could
            # never be decoded again. Refuse it before anything is written.
            value = getattr(event, field)
            if isinstance(value, float) and not isfinite(value):
                raise ValueError(f"{name}.{field} is {value}; events must hold finite numbers")
        return name, version, mask_secrets_in_json(_encoder.encode(event))

    def decode(self, name: str, schema_version: int, payload: bytes) -> Event | UnknownEvent:
        """Decode a stored payload; never raises for bad data (returns ``UnknownEvent``)."""
        cls = self._types.get(name)
        if cls is None:
            return self._unknown(name, schema_version, payload, "unknown type")
        current = cls.schema_version
        if schema_version > current:
            reason = f"schema version {schema_version} is newer than {current}"
            return self._unknown(name, schema_version, payload, reason)
        try:
            if schema_version == current:
                event: Event = self._decoders[name].decode(payload)
                return event
            return self._upcast(cls, name, schema_version, payload)
        except (msgspec.DecodeError, msgspec.ValidationError, KeyError, TypeError) as exc:
            return self._unknown(name, schema_version, payload, f"undecodable: {exc}")

    def _upcast(self, cls: type[Event], name: str, version: int, payload: bytes) -> Event:
        data = _raw_decoder.decode(payload)
        while version < cls.schema_version:
            step = self._upcasters.get((name, version))
            if step is None:
                raise KeyError(f"no upcaster for {name} v{version}")
            data = step(data)
            version += 1
        data["type"] = name
        return msgspec.convert(data, cls)

    def _unknown(self, name: str, version: int, payload: bytes, reason: str) -> UnknownEvent:
        self.unknown_count += 1
        return UnknownEvent(type=name, schema_version=version, payload=payload, reason=reason)


def _float_fields(cls: type[Event]) -> tuple[str, ...]:
    """Names of the top-level fields that may hold a float (checked for NaN/inf)."""
    found = []
    for field in msgspec.structs.fields(cls):
        info = msgspec.inspect.type_info(field.type)
        kinds = info.types if isinstance(info, msgspec.inspect.UnionType) else (info,)
        if any(isinstance(k, msgspec.inspect.FloatType | msgspec.inspect.AnyType) for k in kinds):
            found.append(field.name)
    return tuple(found)


def type_name(cls: type[Event]) -> str:
    """The stored type name of an event class: its msgspec tag."""
    tag = cls.__struct_config__.tag
    if not isinstance(tag, str):
        raise TypeError(f"{cls.__qualname__} must be a tagged Struct with a string tag")
    return tag


default_registry = EventRegistry()
"""The registry every built-in event type registers itself in."""
