"""Filters (pure): time parsing, type names, option checks, and matching events."""

from __future__ import annotations

from datetime import datetime

import pytest

from events import (
    AttemptFailed,
    DeploymentQuarantined,
    Event,
    FallbackSwitched,
    ModelListRefreshed,
    QuotaSettled,
    RequestStarted,
    RequestSucceeded,
    StoredEvent,
    UnknownEvent,
    default_registry,
)
from runtime.inspect._errors import InspectError
from runtime.inspect._filters import (
    DEFAULT_LIMIT,
    Filter,
    Matcher,
    build_filter,
    event_facts,
    expand_types,
    parse_time,
)

NOW = 1_700_000_000.0
KNOWN = default_registry.types


def stored(
    event: Event | UnknownEvent, *, position: int = 1, stream: str = "s", timestamp: float = NOW
) -> StoredEvent:
    name = event.type if isinstance(event, UnknownEvent) else type(event).__name__
    return StoredEvent(
        position=position,
        stream=stream,
        stream_version=1,
        timestamp=timestamp,
        type=name,
        schema_version=1,
        idempotency_key=None,
        event=event,
    )


def started(request_id: str, role: str | None, chain: tuple[str, ...] = ("llama3",)) -> StoredEvent:
    event = RequestStarted(
        request_id=request_id,
        at=NOW,
        role=role,
        model=None if role else chain[0],
        kind=role,
        stream=False,
        chain=chain,
        candidates=tuple(f"{m}@a" for m in chain),
        prompt_chars=5,
        prompt_hash="ab",
    )
    return stored(event, stream=f"request/{request_id}")


def failed(request_id: str, deployment: str = "llama3@a", position: int = 2) -> StoredEvent:
    event = AttemptFailed(
        request_id=request_id,
        at=NOW,
        attempt=1,
        deployment=deployment,
        failure="timeout",
        retryable=True,
    )
    return stored(event, position=position, stream=f"request/{request_id}")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10m", NOW - 600),
        ("2h", NOW - 7200),
        ("1d", NOW - 86400),
        ("1.5h", NOW - 5400),
        ("30s ago", NOW - 30),
        ("now", NOW),
        ("1699999000", 1_699_999_000.0),
        ("1699999000.5", 1_699_999_000.5),
        ("2023-11-14T22:13:20Z", 1_700_000_000.0),
        ("2023-11-14T23:13:20+01:00", 1_700_000_000.0),
    ],
)
def test_parse_time_forms(text: str, expected: float) -> None:
    assert parse_time(text, NOW) == pytest.approx(expected)


def test_parse_time_without_a_zone_is_local_time() -> None:
    assert parse_time("2023-11-14T10:00:00", NOW) == datetime(2023, 11, 14, 10).timestamp()


@pytest.mark.parametrize("text", ["yesterday", "10 minutes", "", "inf", "2023-13-45"])
def test_parse_time_refuses_what_it_cannot_read(text: str) -> None:
    with pytest.raises(InspectError, match=r"--until: cannot read .* ISO-8601"):
        parse_time(text, NOW, option="--until")


def test_expand_types_exact_and_base_names() -> None:
    assert expand_types(["AttemptFailed"], KNOWN) == ("AttemptFailed",)
    health = expand_types(["HealthEvent"], KNOWN)
    assert "DeploymentQuarantined" in health and "HealthReset" in health
    assert "AttemptFailed" not in health
    both = expand_types(["DeploymentQuarantined", "HealthEvent"], KNOWN)
    assert both.count("DeploymentQuarantined") == 1


@pytest.mark.parametrize("name", ["AttemptFaild", "Event", "Struct"])
def test_expand_types_names_the_known_types_for_an_unknown_one(name: str) -> None:
    with pytest.raises(InspectError) as caught:
        expand_types([name], KNOWN)
    assert repr(name) in str(caught.value) and "AttemptFailed, AttemptStarted" in str(caught.value)


def test_build_filter_defaults_and_conversions() -> None:
    default = build_filter(now=NOW, known_types=KNOWN)
    assert default == Filter(limit=DEFAULT_LIMIT)
    assert not default.by_content
    full = build_filter(
        now=NOW,
        known_types=KNOWN,
        types=["RequestFailed"],
        model="llama3",
        since="1h",
        until="now",
        from_position=5,
        show_all=True,
    )
    assert full.types == ("RequestFailed",) and full.model == "llama3" and full.by_content
    assert (full.since, full.until, full.from_position, full.limit) == (NOW - 3600, NOW, 5, None)
    assert build_filter(now=NOW, known_types=KNOWN, limit=3).limit == 3


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"deployment": "llama3"}, "model@endpoint"),
        ({"from_position": 0}, "--from-position must be >= 1"),
        ({"limit": 0}, "--limit must be >= 1"),
        ({"limit": 5, "show_all": True}, "exclude each other"),
        ({"since": "1h", "until": "2h"}, "is after --until"),
        ({"types": ["Nope"]}, "unknown event type 'Nope'"),
    ],
)
def test_build_filter_refuses_bad_options(options: dict[str, object], message: str) -> None:
    with pytest.raises(InspectError, match=message):
        build_filter(now=NOW, known_types=KNOWN, **options)  # type: ignore[arg-type]


def test_facts_from_fields_and_stream_names() -> None:
    switched = FallbackSwitched(
        request_id="r1",
        at=NOW,
        from_model="llama3",
        to_model="qwen",
        reason="failure",
        candidates=("qwen@b",),
    )
    facts = event_facts(stored(switched, stream="request/r1"))
    assert facts.models == {"llama3", "qwen"} and facts.endpoints == {"b"}
    assert facts.deployments == {"qwen@b"} and facts.requests == {"r1"}
    success = RequestSucceeded(
        request_id="r2", at=NOW, model="m@sha", endpoint="e", attempts=1, latency_s=0.1
    )
    assert event_facts(stored(success)).deployments == {"m@sha@e"}
    assert event_facts(stored(success)).models == {"m@sha"}  # split at the last @
    settled = QuotaSettled(at=NOW, reservation_id="r3#2", endpoint="e")
    assert event_facts(stored(settled, stream="quota/ledger")).requests == {"r3"}
    listed = ModelListRefreshed(endpoint="e", models=("a", "b"), at=NOW)
    assert event_facts(stored(listed, stream="catalog/e")).models == {"a", "b"}
    unknown = UnknownEvent(type="Future", schema_version=1, payload=b"{}")
    facts = event_facts(stored(unknown, stream="health/llama3@a"))
    assert facts.deployments == {"llama3@a"} and facts.endpoints == {"a"}


def test_matcher_on_model_endpoint_deployment_request_and_stream() -> None:
    event = failed("18eb2f0001", deployment="llama3@b")
    quarantine = stored(
        DeploymentQuarantined(deployment="qwen@a", at=NOW, until=NOW + 30, quarantine_count=1),
        stream="health/qwen@a",
    )

    def passes(**criteria: object) -> list[bool]:
        matcher = Matcher(Filter(**criteria))  # type: ignore[arg-type]
        return [matcher.matches(event), matcher.matches(quarantine)]

    assert passes(model="llama3") == [True, False]
    assert passes(model="qwen") == [False, True]
    assert passes(endpoint="b") == [True, False]
    assert passes(deployment="qwen@a") == [False, True]
    assert passes(request="18eb2f") == [True, False]  # a prefix of the id
    assert passes(request="18eb2f0001", model="qwen") == [False, False]  # criteria are ANDed
    assert passes(stream="health/qwen@a") == [False, True]
    assert passes(types=("DeploymentQuarantined", "HealthReset")) == [False, True]


def test_matcher_on_time_and_position() -> None:
    early = failed("r", position=3)
    late = stored(early.event, position=9, timestamp=NOW + 100)
    matcher = Matcher(Filter(since=NOW + 50))
    assert [matcher.matches(e) for e in (early, late)] == [False, True]
    matcher = Matcher(Filter(until=NOW + 50))
    assert [matcher.matches(e) for e in (early, late)] == [True, False]
    matcher = Matcher(Filter(from_position=5))
    assert [matcher.matches(e) for e in (early, late)] == [False, True]


def test_matcher_learns_roles_from_request_started() -> None:
    matcher = Matcher(Filter(role="generator"))
    assert matcher.pending_role(started("r1", "generator")) is None
    assert matcher.matches(started("r1", "generator"))
    assert matcher.pending_role(failed("r1")) is None  # learned from its RequestStarted
    assert matcher.matches(failed("r1"))
    assert not matcher.matches(started("r2", None))
    assert not matcher.matches(failed("r2"))


def test_matcher_asks_for_a_role_it_has_not_seen() -> None:
    matcher = Matcher(Filter(role="critic"))
    orphan = failed("r9")
    assert matcher.pending_role(orphan) == "r9"
    matcher.remember("r9", "critic")
    assert matcher.pending_role(orphan) is None and matcher.matches(orphan)
    matcher.remember("r8", None)
    assert not matcher.matches(failed("r8"))
    assert Matcher(Filter()).pending_role(orphan) is None  # no role filter: no lookup


def test_unknown_events_match_only_what_their_envelope_says() -> None:
    unknown = stored(
        UnknownEvent(type="Future", schema_version=1, payload=b'{"model":"llama3"}'),
        stream="health/qwen@a",
    )
    assert Matcher(Filter(model="qwen")).matches(unknown)
    assert not Matcher(Filter(model="llama3")).matches(unknown)  # the payload is not read
    assert Matcher(Filter(types=("Future",))).matches(unknown)
