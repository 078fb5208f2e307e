"""``explain`` says where an attempt's time went: slot wait, connect, first byte."""

from __future__ import annotations

from events import AttemptFailed, AttemptSucceeded
from runtime.inspect._explain_text import attempt_result

RID = "r1"


def test_a_queued_attempt_shows_its_wait_for_a_slot_its_connect_and_first_byte() -> None:
    event = AttemptSucceeded(
        request_id=RID, at=0.0, attempt=1, deployment="tiny@l1", latency_s=0.25,
        ttft_s=5.2, queue_s=4.9, connect_s=0.001, first_byte_s=0.2,
    )  # fmt: skip
    headline, _, tone = attempt_result(event)
    assert tone == "good"
    assert headline.endswith(
        "queued 4.9s for a slot on l1, connected in 0.001s, first byte after 0.200s"
    )


def test_an_attempt_that_got_a_slot_at_once_says_so() -> None:
    event = AttemptFailed(
        request_id=RID, at=0.0, attempt=1, deployment="m@e", failure="http_5xx",
        retryable=True, status=503, latency_s=0.01, queue_s=0.0, connect_s=0.002,
        first_byte_s=0.008,
    )  # fmt: skip
    headline, _, _ = attempt_result(event)
    assert "a slot on e at once, connected in 0.002s, first byte after 0.008s" in headline


def test_older_events_without_the_timings_read_as_before() -> None:
    event = AttemptSucceeded(request_id=RID, at=0.0, attempt=1, deployment="m@e", latency_s=1.5)
    headline, _, _ = attempt_result(event)
    assert headline == "succeeded in 1.5s, 0 characters"
    assert "slot" not in headline and "connected" not in headline
