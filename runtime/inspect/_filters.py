"""Which events to show: a ``Filter`` built from the command line and a ``Matcher``.

Pure: times are parsed against a ``now`` the caller passes in, and a role that must be
looked up (the role of a request is only in its ``RequestStarted``) is asked for through
``Matcher.pending_role`` so the shell can read it and hand it back with ``remember``.
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

import msgspec

from events import REQUEST_STREAM_PREFIX, Event, StoredEvent, UnknownEvent
from runtime.inspect._errors import InspectError

__all__ = [
    "DEFAULT_LIMIT",
    "Facts",
    "Filter",
    "Matcher",
    "build_filter",
    "event_facts",
    "expand_types",
    "parse_time",
]

DEFAULT_LIMIT = 20
"""Events ``tail`` shows unless told otherwise (``-n``, ``--all``)."""

_ROLE_MEMORY = 50_000
"""Request roles remembered at most (oldest forgotten first): bounds memory on long scans."""

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])(?:\s*ago)?$")
_TIME_HELP = (
    "use ISO-8601 (2024-05-01T12:00:00Z), epoch seconds (1714564800) "
    "or a time relative to now (30s, 10m, 2h, 1d, 1w)"
)


class Filter(msgspec.Struct, frozen=True, kw_only=True):
    """The events asked for; every criterion set must hold (they are ANDed)."""

    types: tuple[str, ...] | None = None
    """Exact event type names; None: every type."""
    model: str | None = None
    """A model the event is about (``model``, ``deployment``, fallback, chain fields)."""
    endpoint: str | None = None
    """An endpoint the event is about."""
    deployment: str | None = None
    """A deployment (``model@endpoint``) the event is about."""
    role: str | None = None
    """The role of the event's request (or the event's own ``role``)."""
    request: str | None = None
    """A request id, or a prefix of one."""
    stream: str | None = None
    """An exact stream name, e.g. ``health/llama3@local``."""
    since: float | None = None
    """Earliest append time, epoch seconds (inclusive)."""
    until: float | None = None
    """Latest append time, epoch seconds (inclusive)."""
    from_position: int = 1
    """Lowest position to show."""
    limit: int | None = DEFAULT_LIMIT
    """Show the last ``limit`` matching events; None shows all of them."""

    @property
    def by_content(self) -> bool:
        """Whether a criterion needs the decoded event (not pushed down to SQL)."""
        fields = (self.model, self.endpoint, self.deployment, self.role, self.request)
        return any(value is not None for value in fields)


class Facts(msgspec.Struct, frozen=True, kw_only=True):
    """What an event is about, gathered from its fields and its stream name."""

    models: frozenset[str] = frozenset()
    endpoints: frozenset[str] = frozenset()
    deployments: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()
    requests: frozenset[str] = frozenset()


def parse_time(text: str, now: float, *, option: str = "--since") -> float:
    """Read a time given on the command line as epoch seconds.

    Accepts ISO-8601 (a time without a zone is local time), epoch seconds, ``now``,
    or a duration before ``now`` such as ``10m``, ``2h``, ``1d`` (``10m ago`` too).

    Raises:
        InspectError: ``text`` is none of these.
    """
    value = text.strip().lower()
    if value == "now":
        return now
    relative = _RELATIVE.match(value)
    if relative is not None:
        return now - float(relative.group(1)) * _UNITS[relative.group(2)]
    try:
        number = float(value)
    except ValueError:
        pass
    else:
        if math.isfinite(number):
            return number
    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except (ValueError, OverflowError, OSError):
        raise InspectError(f"{option}: cannot read {text!r} as a time; {_TIME_HELP}") from None


def expand_types(names: Iterable[str], known: Mapping[str, type[Event]]) -> tuple[str, ...]:
    """Validate event type names; a base class name (``HealthEvent``) means its subclasses.

    Raises:
        InspectError: A name is neither a known event type nor a base of some.
    """
    chosen: list[str] = []
    for name in names:
        if name in known:
            matched = [name]
        else:
            matched = sorted(t for t, cls in known.items() if name in _bases(cls))
        if not matched:
            raise InspectError(
                f"--type: unknown event type {name!r}; known types: {', '.join(sorted(known))}"
            )
        chosen.extend(t for t in matched if t not in chosen)
    return tuple(chosen)


def _bases(cls: type[Event]) -> set[str]:
    """Names of the event bases of ``cls`` below ``Event`` (``HealthEvent``...)."""
    return {b.__name__ for b in cls.__mro__[1:] if issubclass(b, Event) and b is not Event}


def build_filter(
    *,
    now: float,
    known_types: Mapping[str, type[Event]],
    types: Sequence[str] = (),
    model: str | None = None,
    endpoint: str | None = None,
    deployment: str | None = None,
    role: str | None = None,
    request: str | None = None,
    stream: str | None = None,
    since: str | None = None,
    until: str | None = None,
    from_position: int | None = None,
    limit: int | None = None,
    show_all: bool = False,
) -> Filter:
    """Check the command-line options and build the ``Filter`` they describe.

    Raises:
        InspectError: An option's value is invalid (unknown type, bad time, ...).
    """
    if deployment is not None and "@" not in deployment:
        raise InspectError(f"--deployment: {deployment!r} is not of the form model@endpoint")
    if from_position is not None and from_position < 1:
        raise InspectError(f"--from-position must be >= 1, not {from_position}")
    if limit is not None and limit < 1:
        raise InspectError(f"-n/--limit must be >= 1, not {limit}")
    if show_all and limit is not None:
        raise InspectError("-n/--limit and --all exclude each other; pass one of them")
    start = None if since is None else parse_time(since, now, option="--since")
    end = None if until is None else parse_time(until, now, option="--until")
    if start is not None and end is not None and start > end:
        raise InspectError(f"--since ({since}) is after --until ({until}); nothing can match")
    return Filter(
        types=expand_types(types, known_types) if types else None,
        model=model,
        endpoint=endpoint,
        deployment=deployment,
        role=role,
        request=request,
        stream=stream,
        since=start,
        until=end,
        from_position=from_position or 1,
        limit=None if show_all else (limit or DEFAULT_LIMIT),
    )


_FIELD_KINDS = {
    "deployment": "deployments",
    "candidates": "deployments",
    "model": "models",
    "from_model": "models",
    "to_model": "models",
    "chain": "models",
    "models": "models",
    "endpoint": "endpoints",
    "role": "roles",
    "generator_role": "roles",
    "escalation_role": "roles",
    "overseer_role": "roles",
    "request_id": "requests",
    "reservation_id": "reservations",
}
"""Event fields that say what an event is about, by the kind of thing they name."""

_SOURCES = {
    "models": frozenset({"models", "deployments"}),
    "endpoints": frozenset({"endpoints", "deployments"}),
    "deployments": frozenset({"deployments"}),
    "roles": frozenset({"roles"}),
    "requests": frozenset({"requests", "reservations"}),
}
"""The field kinds each fact is gathered from (a deployment names a model and an endpoint)."""
_ALL = frozenset(_SOURCES)
_NONE: set[str] = set()
_ROLE_FACTS = frozenset({"roles", "requests"})

_PLANS: dict[tuple[type, frozenset[str]], tuple[tuple[str, str], ...]] = {}
"""Per event class and wanted facts, the fields to read: computed once, used per event."""


def _plan(cls: type, wanted: frozenset[str]) -> tuple[tuple[str, str], ...]:
    plan = _PLANS.get((cls, wanted))
    if plan is None:
        kinds = frozenset().union(*(_SOURCES[w] for w in wanted))
        names: tuple[str, ...] = getattr(cls, "__struct_fields__", ())
        plan = tuple((n, _FIELD_KINDS[n]) for n in names if _FIELD_KINDS.get(n) in kinds)
        if "deployments" in kinds and {"model", "endpoint"} <= set(names):
            plan += (("", "model@endpoint"),)
        _PLANS[(cls, wanted)] = plan
    return plan


def _split(deployment: str) -> tuple[str, str] | None:
    model, sep, endpoint = deployment.rpartition("@")
    return (model, endpoint) if sep and model and endpoint else None


def _from_stream(stream: str, found: defaultdict[str, set[str]]) -> None:
    prefix, _, rest = stream.partition("/")
    if not rest:
        return
    if prefix == "health":
        found["deployments"].add(rest)
    elif prefix == "catalog":
        found["endpoints"].add(rest)
    elif prefix == REQUEST_STREAM_PREFIX.rstrip("/"):
        found["requests"].add(rest)


def _gather(stored: StoredEvent, wanted: frozenset[str]) -> defaultdict[str, set[str]]:
    """The ``wanted`` facts of an event (and what they were derived from)."""
    found: defaultdict[str, set[str]] = defaultdict(set)  # only the kinds met cost a set
    _from_stream(stored.stream, found)
    event = stored.event
    if not isinstance(event, UnknownEvent):
        for name, kind in _plan(type(event), wanted):
            if not name:  # both a model and an endpoint field: a deployment
                model, endpoint = event.model, event.endpoint  # type: ignore[attr-defined]
                if isinstance(model, str) and isinstance(endpoint, str) and model and endpoint:
                    found["deployments"].add(f"{model}@{endpoint}")
                continue
            value = getattr(event, name)
            if isinstance(value, str):
                if value:
                    found[kind].add(value)
            elif isinstance(value, tuple):
                found[kind].update(v for v in value if isinstance(v, str) and v)
    if "reservations" in found:  # a quota reservation id is "<request id>#<n>"
        found["requests"].update(r.partition("#")[0] for r in found["reservations"] if "#" in r)
    for deployment in found.get("deployments", ()):
        parts = _split(deployment)
        if parts is not None:
            found["models"].add(parts[0])
            found["endpoints"].add(parts[1])
    return found


def event_facts(stored: StoredEvent) -> Facts:
    """Gather the models, endpoints, deployments, roles and request ids of an event."""
    found = _gather(stored, _ALL)
    return Facts(**{kind: frozenset(found.get(kind, _NONE)) for kind in _SOURCES})


class Matcher:
    """Applies a ``Filter`` to events, remembering each request's role as it goes.

    A role filter needs the role of the request an event belongs to, which only its
    ``RequestStarted`` holds. Events seen in order teach it; for an event whose request
    started before the scanned range, ``pending_role`` names the request to look up and
    ``remember`` takes the answer.
    """

    def __init__(self, where: Filter) -> None:
        """Match events against ``where``."""
        self.filter = where
        self._by_content = where.by_content
        asked = {
            "models": where.model is not None,
            "endpoints": where.endpoint is not None,
            "deployments": where.deployment is not None,
            "roles": where.role is not None,
            "requests": where.request is not None or where.role is not None,  # role via id
        }
        self._wanted = frozenset(kind for kind, needed in asked.items() if needed)
        self._roles: OrderedDict[str, str | None] = OrderedDict()

    def remember(self, request_id: str, role: str | None) -> None:
        """Record the role of ``request_id`` (None: it asked for a model directly)."""
        if len(self._roles) >= _ROLE_MEMORY and request_id not in self._roles:
            self._roles.popitem(last=False)  # the oldest; looked up again if needed
        self._roles[request_id] = role

    def pending_role(self, stored: StoredEvent) -> str | None:
        """The request id whose role must be looked up before matching, if any."""
        if self.filter.role is None:
            return None
        self._learn(stored)
        facts = _gather(stored, _ROLE_FACTS)
        if facts.get("roles"):
            return None
        requests = sorted(facts.get("requests", _NONE))
        return next((r for r in requests if r not in self._roles), None)

    def _learn(self, stored: StoredEvent) -> None:
        event = stored.event
        request_id = getattr(event, "request_id", None)
        if isinstance(request_id, str) and request_id and hasattr(event, "role"):
            role = getattr(event, "role", None)
            if type(event).__name__ == "RequestStarted" or request_id not in self._roles:
                self.remember(request_id, role if isinstance(role, str) else None)

    def matches(self, stored: StoredEvent) -> bool:
        """Whether ``stored`` passes every criterion of the filter."""
        where = self.filter
        if stored.position < where.from_position:
            return False
        if where.types is not None and stored.type not in where.types:
            return False
        if where.stream is not None and stored.stream != where.stream:
            return False
        if where.since is not None and stored.timestamp < where.since:
            return False
        if where.until is not None and stored.timestamp > where.until:
            return False
        if not self._by_content:
            return True
        if where.role is not None:
            self._learn(stored)
        return self._matches_content(_gather(stored, self._wanted))

    def _matches_content(self, facts: Mapping[str, set[str]]) -> bool:
        where = self.filter
        requests = facts.get("requests", _NONE)
        if where.request is not None and not any(r.startswith(where.request) for r in requests):
            return False
        if where.model is not None and where.model not in facts.get("models", _NONE):
            return False
        if where.endpoint is not None and where.endpoint not in facts.get("endpoints", _NONE):
            return False
        if where.deployment is not None and where.deployment not in facts.get("deployments", _NONE):
            return False
        if where.role is not None:
            roles = set(facts.get("roles", _NONE))
            roles.update(r for q in requests if (r := self._roles.get(q)) is not None)
            if where.role not in roles:
                return False
        return True
