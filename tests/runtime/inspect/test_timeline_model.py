"""Health history from hand-written events: episodes, durations and the flapping rule."""

from __future__ import annotations

import datetime as dt

from events import (
    DeploymentDegraded,
    DeploymentFailed,
    DeploymentProbingStarted,
    DeploymentQuarantined,
    DeploymentRecovered,
    DeploymentStabilized,
    Event,
    HealthOutcomeRecorded,
    HealthReset,
)
from runtime.inspect._render import Style
from runtime.inspect._timeline_model import FLAP_CYCLES, FLAP_WINDOW_S, build_timeline, flap_score
from runtime.inspect._timeline_render import render_timeline
from tests.runtime.inspect._requests import WALL, stored

B = "llama3@b"


def cycle(start: float, out_for: float, did: str = B, count: int = 1) -> list[Event]:
    """Quarantined at ``start``, probing at the deadline, recovered right after."""
    until = start + out_for
    return [
        DeploymentQuarantined(
            deployment=did,
            at=start,
            until=until,
            quarantine_count=count,
            reason="3 consecutive failures",
            failure="connection",
        ),
        DeploymentProbingStarted(deployment=did, at=until, probe_round=count),
        DeploymentRecovered(deployment=did, at=until + 0.5, previous="probing"),
    ]


def test_flap_score_counts_whole_cycles_inside_one_window() -> None:
    cycles = [(0.0, 10.0), (100.0, 110.0), (200.0, 210.0)]
    assert flap_score(cycles, 300.0) == 3
    assert flap_score(cycles, 150.0) == 2
    assert flap_score(cycles, 5.0) == 0  # no cycle fits in 5 s
    assert flap_score([], 300.0) == 0
    assert flap_score([(200.0, 210.0), (0.0, 10.0)], 210.0) == 2  # order does not matter


def test_three_quick_cycles_are_flapping() -> None:
    events = [
        DeploymentRecovered(deployment=B, at=WALL - 10, previous="unknown"),
        *cycle(WALL, 30.0, count=1),
        *cycle(WALL + 100, 60.0, count=2),
        *cycle(WALL + 300, 120.0, count=3),
    ]
    [timeline] = build_timeline(stored(events)).deployments
    assert (timeline.deployment, timeline.model, timeline.endpoint) == (B, "llama3", "b")
    assert timeline.status == "healthy"
    assert (timeline.quarantines, timeline.cycles) == (3, 3)
    assert [e.lasted_s for e in timeline.episodes] == [30.5, 60.5, 120.5]
    assert timeline.longest_s == 120.5 and timeline.out_of_rotation_s == 211.5
    assert timeline.flap_score == 3 and timeline.flapping
    assert FLAP_CYCLES == 3 and FLAP_WINDOW_S == 3600.0


def test_cycles_spread_over_hours_are_not_flapping() -> None:
    events = [*cycle(WALL, 30.0), *cycle(WALL + 4000, 30.0), *cycle(WALL + 8000, 30.0)]
    [timeline] = build_timeline(stored(events)).deployments
    assert timeline.cycles == 3 and timeline.flap_score == 1 and not timeline.flapping
    shorter = build_timeline(stored(events), window_s=9000.0, cycles=3)
    assert shorter.deployments[0].flapping and shorter.flap_window_s == 9000.0


def test_failed_probes_stay_in_one_episode_until_the_recovery() -> None:
    events = [
        DeploymentQuarantined(deployment=B, at=WALL, until=WALL + 30, quarantine_count=1),
        DeploymentProbingStarted(deployment=B, at=WALL + 30, probe_round=1),
        DeploymentQuarantined(deployment=B, at=WALL + 31, until=WALL + 91, quarantine_count=2),
        DeploymentProbingStarted(deployment=B, at=WALL + 91, probe_round=2),
        DeploymentRecovered(deployment=B, at=WALL + 92, previous="probing"),
        DeploymentStabilized(deployment=B, at=WALL + 500),
    ]
    [timeline] = build_timeline(stored(events)).deployments
    [episode] = timeline.episodes
    assert (episode.quarantines, episode.ended_by, episode.lasted_s) == (2, "recovered", 92.0)
    assert timeline.quarantines == 2 and timeline.cycles == 1
    assert [c.status for c in timeline.changes] == [
        "quarantined",
        "probing",
        "quarantined",
        "probing",
        "healthy",
        "stabilized",
    ]
    assert [c.out_for_s for c in timeline.changes] == [None, 30.0, 31.0, 91.0, 92.0, None]
    assert timeline.changes[0].until == WALL + 30
    assert timeline.changes[0].text.startswith("quarantined for 30s (until ")
    assert timeline.status == "healthy"  # stabilized keeps the status


def test_reset_and_failure_end_an_episode_and_an_open_one_is_ongoing() -> None:
    a, c = "llama3@a", "qwen@a"
    events = [
        DeploymentQuarantined(deployment=a, at=WALL, until=WALL + 30, quarantine_count=1),
        HealthReset(deployment=a, at=WALL + 10, reason="manual reset"),
        DeploymentQuarantined(deployment=B, at=WALL, until=WALL + 30, quarantine_count=1),
        DeploymentFailed(deployment=B, at=WALL + 5, failure="auth", reason="bad api key"),
        DeploymentQuarantined(deployment=c, at=WALL, until=WALL + 30, quarantine_count=1),
        HealthOutcomeRecorded(deployment=c, at=WALL + 1, ok=False, failure="connection"),
    ]
    timelines = {t.deployment: t for t in build_timeline(stored(events)).deployments}
    assert list(timelines) == [a, B, c]  # by name
    assert [(e.ended_by, e.lasted_s) for e in timelines[a].episodes] == [("reset", 10.0)]
    assert [(e.ended_by, e.lasted_s) for e in timelines[B].episodes] == [("failed", 5.0)]
    assert [(e.ended_by, e.end) for e in timelines[c].episodes] == [("ongoing", None)]
    assert (timelines[a].status, timelines[B].status, timelines[c].status) == (
        "unknown",
        "failed",
        "quarantined",
    )
    assert len(timelines[c].changes) == 1  # outcomes are not status changes
    assert timelines[c].longest_s is None and timelines[c].cycles == 0


def test_the_text_has_a_summary_and_one_table_per_deployment() -> None:
    events = [
        DeploymentDegraded(deployment="llama3@a", at=WALL, reason="1 consecutive failure(s)"),
        *cycle(WALL, 30.0),
        *cycle(WALL + 100, 30.0),
        *cycle(WALL + 200, 30.0),
    ]
    text = render_timeline(build_timeline(stored(events)), Style(width=200), dt.UTC)
    lines = text.splitlines()
    assert lines[0] == "Health timeline per deployment"
    row = next(line for line in lines if line.startswith("llama3@b "))
    assert row.split()[:4] == ["llama3@b", "healthy", "3", "3"]
    assert "YES (3 cycles in one window)" in row
    assert "llama3@b: now healthy; 3 quarantines, 3 recoveries; FLAPPING" in lines
    assert "llama3@a: now degraded; 0 quarantines, 0 recoveries" in lines
    assert any(line.startswith("2023-11-14 22:13:20  quarantined") for line in lines)
    assert "Flapping: at least 3 quarantine -> recovery cycles within 1h00m." in text


def test_nothing_to_show_says_so() -> None:
    assert render_timeline(build_timeline([]), Style()).startswith("No health status changes")


def requarantined(start: float) -> list[Event]:
    """Quarantined at ``start``; the probe 30 s later fails: quarantined again."""
    return [
        DeploymentQuarantined(deployment=B, at=start, until=start + 30, quarantine_count=1),
        DeploymentProbingStarted(deployment=B, at=start + 30, probe_round=1),
        DeploymentQuarantined(deployment=B, at=start + 31, until=start + 91, quarantine_count=2),
    ]


def test_an_outage_still_going_is_counted_up_to_the_end_of_the_log() -> None:
    events = [*cycle(WALL, 30.0), *requarantined(WALL + 100)]
    timeline = build_timeline(stored(events), end=WALL + 400)
    [b] = timeline.deployments
    assert timeline.end == WALL + 400
    assert (b.status, b.longest_s, b.out_of_rotation_s) == ("quarantined", 30.5, 30.5)  # as before
    assert b.episodes[-1].ended_by == "ongoing" and b.episodes[-1].so_far_s == 300.0
    assert (b.ongoing_s, b.longest_so_far_s, b.out_so_far_s) == (300.0, 300.0, 330.5)

    text = render_timeline(timeline, Style(width=200), dt.UTC)
    row = next(line for line in text.splitlines() if line.startswith("llama3@b "))
    assert "5m00s so far (ongoing)" in row and "5m30s so far" in row
    assert "still out of rotation at the end of the log: out for 5m00s so far" in text


def test_an_outage_out_right_now_with_no_history_is_not_zero() -> None:
    """The issue: 'longest out -, out in total 0.000s' for a deployment out right now."""
    timeline = build_timeline(stored(requarantined(WALL)), end=WALL + 45)
    text = render_timeline(timeline, Style(width=200), dt.UTC)
    row = next(line for line in text.splitlines() if line.startswith("llama3@b "))
    assert "0.000s" not in row and " - " not in row
    assert "45s so far (ongoing)" in row and row.count("45s so far") == 2
    # Without an end, the last change is the last thing known: out since WALL + 31 - WALL.
    [alone] = build_timeline(stored(requarantined(WALL))).deployments
    assert alone.ongoing_s == 31.0
    # An end before the last change cannot shorten it.
    assert build_timeline(stored(requarantined(WALL)), end=WALL).end == WALL + 31


def flaps(start: float, count: int, did: str = B) -> list[Event]:
    """``count`` times degraded then recovered again, a tenth of a second apart."""
    events: list[Event] = []
    for n in range(count):
        at = start + 0.2 * n
        events.append(DeploymentDegraded(deployment=did, at=at, reason="1 consecutive failure"))
        events.append(DeploymentRecovered(deployment=did, at=at + 0.1, previous="degraded"))
    return events


def test_degraded_recovered_flapping_is_one_line_with_a_count() -> None:
    events = [
        DeploymentRecovered(deployment=B, at=WALL - 1, previous="unknown"),
        *flaps(WALL, 124),
        *cycle(WALL + 60, 30.0),
        *flaps(WALL + 100, 5),
        DeploymentStabilized(deployment=B, at=WALL + 102),
    ]
    [b] = build_timeline(stored(events)).deployments
    assert len(b.changes) == 1 + 248 + 3 + 10 + 1  # every change is still there
    assert [line.status for line in b.lines] == [
        "degraded<->healthy",
        "quarantined",
        "probing",
        "healthy",
        "degraded<->healthy",
    ]
    first, *_, last = b.lines
    assert (first.changes, first.degraded, first.recovered, first.ends) == (
        249,
        124,
        125,
        "healthy",
    )
    assert (first.at, first.last_at) == (WALL - 1, WALL + 0.2 * 123 + 0.1)
    assert (first.first_position, first.last_position) == (1, 249)
    assert (last.changes, last.degraded, last.recovered) == (11, 5, 5)  # stabilized joins

    text = render_timeline(build_timeline(stored(events)), Style(width=200), dt.UTC)
    assert len(text.splitlines()) < 20
    assert (
        "llama3@b: now healthy; 1 quarantine, 1 recovery; degraded <-> healthy flapping "
        "(129 times degraded)" in text
    )
    assert (
        "2023-11-14 22:13:19  degraded<->healthy           degraded <-> healthy x 124 "
        "between 22:13:19 and 22:13:44 (125 recovered, 249 changes; ended healthy)"
    ) in text


def test_a_short_run_keeps_a_line_per_change() -> None:
    events = [*flaps(WALL, 1), DeploymentDegraded(deployment=B, at=WALL + 1, reason="slow")]
    [b] = build_timeline(stored(events)).deployments
    assert [line.status for line in b.lines] == ["degraded", "healthy", "degraded"]  # 2 switches
    assert all(line.changes == 1 and line.last_at is None for line in b.lines)
