"""Routing and catalog events: registered, round-trip through the codec, id helpers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import events._catalog as catalog_events
import events._routing as routing_events
from events._base import Event
from events._catalog import (
    ModelListFailed,
    ModelListRefreshed,
    ModelNotServed,
    ModelsDiscovered,
)
from events._codec import default_registry, type_name
from events._routing import (
    AttemptFailed,
    AttemptStarted,
    AttemptSucceeded,
    CandidateSkipped,
    FallbackSwitched,
    RequestCancelled,
    RequestFailed,
    RequestStarted,
    RequestSucceeded,
    RoutingEvent,
    StreamInterrupted,
    deployment_id,
    split_deployment,
)

AT = 1_700_000_000.25
EXAMPLES: list[Event] = [
    RequestStarted(
        request_id="r1",
        at=AT,
        role="generator",
        model=None,
        kind="code",
        stream=True,
        chain=("codellama", "llama3"),
        candidates=("codellama@local", "codellama@gpu", "llama3@gpu"),
        weights=(3.0, 1.0, 0.0),
        prompt_chars=120,
        prompt_hash="9f86d081",
        messages=2,
    ),
    CandidateSkipped(
        request_id="r1", at=AT, deployment="llama3@local", reason="quarantined", detail="3 timeouts"
    ),
    AttemptStarted(
        request_id="r1",
        at=AT,
        attempt=1,
        deployment="codellama@local",
        model="codellama",
        endpoint="local",
        backoff_s=0.0,
        probe=True,
    ),
    AttemptSucceeded(
        request_id="r1",
        at=AT,
        attempt=2,
        deployment="codellama@gpu",
        latency_s=1.5,
        ttft_s=0.2,
        prompt_tokens=30,
        completion_tokens=90,
        tokens_per_s=60.0,
        completion_chars=400,
    ),
    AttemptFailed(
        request_id="r1",
        at=AT,
        attempt=1,
        deployment="codellama@local",
        failure="rate_limited",
        retryable=True,
        status=429,
        message="slow down",
        latency_s=0.05,
        retry_after_s=2.0,
    ),
    StreamInterrupted(
        request_id="r1",
        at=AT,
        attempt=2,
        deployment="codellama@gpu",
        partial_chars=77,
        failure="timeout_idle",
        message="no bytes for 30 s",
        latency_s=31.0,
    ),
    FallbackSwitched(
        request_id="r1",
        at=AT,
        from_model="codellama",
        to_model="llama3",
        reason="failure",
        detail="2 attempts failed",
        candidates=("llama3@gpu",),
    ),
    RequestSucceeded(
        request_id="r1", at=AT, model="llama3", endpoint="gpu", attempts=3, latency_s=4.5
    ),
    RequestFailed(
        request_id="r2",
        at=AT,
        attempts=0,
        error="no deployment of 'llama3' is available",
        error_type="NoDeploymentAvailable",
    ),
    RequestCancelled(request_id="r3", at=AT, attempts=1, latency_s=0.5, partial_chars=3),
    ModelListRefreshed(endpoint="local", models=("llama3:latest", "mistral:7b"), at=AT),
    ModelListFailed(endpoint="local", error="connection refused", at=AT),
    ModelsDiscovered(endpoint="local", added=("qwen2.5:7b",), removed=("phi3:mini",), at=AT),
    ModelNotServed(model="llama3", endpoint="local", served=("mistral:7b",), at=AT),
]


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: type(e).__name__)
def test_every_event_round_trips_through_the_default_registry(event: Event) -> None:
    name, version, payload = default_registry.encode(event)
    assert name == type(event).__name__ and version == 1
    assert default_registry.decode(name, version, payload) == event


def test_every_public_event_type_is_registered_and_has_an_example() -> None:
    public = {
        obj
        for module in (routing_events, catalog_events)
        for obj in (getattr(module, n) for n in module.__all__)
        if isinstance(obj, type) and issubclass(obj, Event) and obj is not RoutingEvent
    }
    assert public == {type(e) for e in EXAMPLES}
    for cls in public:
        assert default_registry.types[type_name(cls)] is cls
    assert not default_registry.known("RoutingEvent")  # a base class, never stored


def test_optional_fields_have_defaults_so_old_payloads_still_decode() -> None:
    minimal = b'{"type":"AttemptFailed","request_id":"r","at":1.0,"attempt":1,'
    minimal += b'"deployment":"m@e","failure":"unknown","retryable":false}'
    event = default_registry.decode("AttemptFailed", 1, minimal)
    assert isinstance(event, AttemptFailed)
    assert (event.status, event.message, event.retry_after_s) == (None, "", None)


def test_an_unknown_reason_value_from_a_newer_release_still_decodes() -> None:
    newer = CandidateSkipped(request_id="r", at=1.0, deployment="m@e", reason="maintenance")
    assert default_registry.decode(*default_registry.encode(newer)) == newer


def test_request_succeeded_names_its_deployment() -> None:
    assert EXAMPLES[7].deployment == "llama3@gpu"  # type: ignore[attr-defined]


@given(
    model=st.text(min_size=1, max_size=20),
    endpoint=st.text(min_size=1, max_size=20).filter(lambda e: "@" not in e),
)
def test_deployment_ids_split_back_into_model_and_endpoint(model: str, endpoint: str) -> None:
    assert split_deployment(deployment_id(model, endpoint)) == (model, endpoint)


def test_a_model_name_with_a_digest_splits_at_the_last_at_sign() -> None:
    assert split_deployment("llama3@sha256:abc@local") == ("llama3@sha256:abc", "local")
    with pytest.raises(ValueError, match="model@endpoint"):
        split_deployment("llama3")


@given(
    candidates=st.lists(st.text(max_size=10), max_size=5).map(tuple),
    prompt_chars=st.integers(0, 10**9),
    at=st.floats(allow_nan=False, allow_infinity=False),
    role=st.none() | st.text(max_size=10),
)
def test_request_started_round_trips_any_content(
    candidates: tuple[str, ...], prompt_chars: int, at: float, role: str | None
) -> None:
    event = RequestStarted(
        request_id="r",
        at=at,
        role=role,
        model=None,
        kind=None,
        stream=False,
        candidates=candidates,
        prompt_chars=prompt_chars,
        prompt_hash="",
    )
    assert default_registry.decode(*default_registry.encode(event)) == event
