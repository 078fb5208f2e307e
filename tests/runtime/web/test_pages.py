"""Each page of the web view rendered from hand-built view models: the DOM contract the
browser tests select on, escaping of untrusted text, and the layout around every page."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from events import (
    AttemptFailed,
    AttemptStarted,
    AttemptSucceeded,
    RequestFailed,
    RequestStarted,
    RequestSucceeded,
)
from runtime.inspect._escape import escape
from runtime.inspect._explain_model import explain
from runtime.inspect._requests_model import RequestFold, RequestRow
from runtime.inspect.web._html import esc, layout, ms, seconds, utc
from runtime.inspect.web._pages import error_main, latency_main, overview_main
from runtime.inspect.web._pages_more import flow_main, quotas_main
from runtime.inspect.web._pages_requests import request_main, requests_main
from runtime.inspect.web._views import (
    Band,
    DeploymentBands,
    DeploymentLatency,
    FailureCell,
    FlowLink,
    FlowView,
    LatencyView,
    Mark,
    Overview,
    QuotaLimitView,
    QuotaView,
    Series,
    Span,
    Totals,
)
from tests.runtime.inspect._requests import stored
from tests.runtime.web._dom import Element, parse

T0 = 1_700_000_000.0
EVIL = '<script>alert("x")</script>'
SPAN = Span(since=T0, until=T0 + 120, bucket_s=10)


def page(main: str, name: str = "overview", *, root: str = "") -> Element:
    return parse(
        layout(title="events.sqlite3", page=name, position=42, root=root, main=main, live=True)
    )


def assert_safe(html: str) -> None:
    """No markup from data, no inline script or style, no URL leaving the page."""
    assert "<script>" not in html
    assert re.findall(r"<script\b[^>]*>", html) in ([], ['<script src="static/live.js" defer>'])
    assert " style=" not in html and "<style" not in html
    assert "http://" not in html and "https://" not in html
    assert not re.search(r"<[a-z]+[^>]*\son[a-z]+=", html)


def overview_model(deployment: str = "llama3@b") -> Overview:
    return Overview(
        span=SPAN,
        first_at=T0,
        last_at=T0 + 100,
        position=42,
        totals=Totals(
            requests=13, succeeded=11, failed=1, cancelled=1, running=0, fallbacks=2, events=80
        ),
        deployments=(
            DeploymentBands(
                deployment=deployment,
                bands=(
                    Band(start=T0, end=T0 + 10, status="healthy"),
                    Band(start=T0 + 10, end=T0 + 41, status="quarantined", reason=EVIL),
                    Band(start=T0 + 41, end=T0 + 120, status="healthy", ongoing=True),
                ),
                status_now="healthy",
                changes=2,
                out_s=31.0,
            ),
        ),
        rate=(
            Series(name="all", points=((T0, 0.5), (T0 + 10, 0.2))),
            Series(name=deployment, points=((T0, 0.3), (T0 + 10, None))),
        ),
    )


def test_the_layout_sets_page_position_base_and_navigation() -> None:
    doc = page("<p>hi</p>", "latency", root="/ui")
    body = doc.find("body")
    assert body.get("data-page") == "latency" and body.get("data-position") == "42"
    assert doc.find("base").get("href") == "/ui/"
    assert doc.find("main").get("id") == "main"
    nav = doc.find("nav")
    hrefs = [a.get("href") for a in nav.find_all("a")]
    assert all(not h.startswith(("/", "http")) for h in hrefs)  # relative to <base>
    assert nav.find("a", cls="active").text.startswith("Latency")
    assert doc.find("script").get("src") == "static/live.js"
    assert doc.find("base").get("href") == "/ui/"
    assert page("", root="").find("base").get("href") == "/"


def test_the_navigation_keeps_the_chosen_time_range() -> None:
    html = layout(
        title="t", page="overview", position=1, root="", main="", live=False,
        keep={"since": "1h"},
    )  # fmt: skip
    hrefs = [a.get("href") for a in parse(html).find("nav").find_all("a")]
    assert "latency?since=1h" in hrefs
    assert "requests?kind=failed&since=1h" in hrefs


def test_the_overview_shows_totals_bands_rate_and_the_picker() -> None:
    html = overview_main(overview_model(), since="15m")
    doc = page(html)
    totals = doc.find("dl", cls="totals")
    values = {dd.get("data-key"): dd.text for dd in totals.find_all("dd")}
    assert values["requests"] == "13" and values["failed"] == "1" and values["fallbacks"] == "2"
    assert values["succeeded"] == "11" and values["events"] == "80"
    bands = doc.find("svg", cls="bands")
    group = bands.find("g", cls="deployment", data_deployment="llama3@b")
    (quarantined,) = group.find_all("rect", cls="band", data_status="quarantined")
    assert float(quarantined.get("data-start")) == T0 + 10
    assert float(quarantined.get("data-end")) == T0 + 41
    assert EVIL in quarantined.find("title").text  # shown as text
    assert doc.find("svg", cls="rate")
    links = doc.find("table", cls="deployments").find("tr", data_deployment="llama3@b")
    hrefs = [a.get("href") for a in links.find_all("a")]
    assert (
        hrefs[1]
        == f"requests?kind=failed&deployment=llama3%40b&since={T0:.3f}&until={T0 + 120:.3f}"
    )
    picker = doc.find("form", cls="range")
    assert picker.find("a", cls="current").text == "15 min"
    assert picker.find("input", name="since").get("value") == "15m"
    assert "2023-11-14 22:13:20 UTC" in picker.text
    assert_safe(html)


def test_an_untrusted_deployment_name_is_text_everywhere() -> None:
    html = overview_main(overview_model(deployment=EVIL))
    assert_safe(html)
    doc = page(html)
    assert doc.find("g", cls="deployment").get("data-deployment") == EVIL
    assert doc.find("table", cls="deployments").find("tr", data_deployment=EVIL)


def latency_model() -> LatencyView:
    series = Series(name="p", points=((T0, 0.12), (T0 + 10, 0.2)))
    return LatencyView(
        span=SPAN,
        deployments=(
            DeploymentLatency(
                deployment="llama3@a", requests=10, errors=2, p50_s=0.12, p95_s=0.5,
                p50=series, p95=series, error_rate=Series(name="e", points=((T0, 0.2),)),
            ),
            DeploymentLatency(
                deployment="llama3@b", requests=0, errors=0, p50_s=None, p95_s=None,
                p50=Series(name="p", points=()), p95=Series(name="p", points=()),
                error_rate=Series(name="e", points=()),
            ),
        ),
        failures=(
            FailureCell(failure="timeout_connect", deployment="llama3@a", count=3),
            FailureCell(failure="http_5xx", deployment="llama3@b", count=1),
        ),
        failure_series=(Series(name="timeout_connect", points=((T0, 3.0),)),),
    )  # fmt: skip


def test_the_latency_page_has_the_table_the_charts_and_failures_by_class() -> None:
    html = latency_main(latency_model())
    doc = page(html, "latency")
    row = doc.find("table", cls="latency").find("tr", data_deployment="llama3@a")
    p50 = row.find("td", data_key="p50")
    assert p50.text == "120 ms" and float(p50.get("data-value")) == 0.12
    assert row.find("td", data_key="p95").text == ms(0.5)
    assert row.find("td", data_key="requests").get("data-value") == "10"
    assert row.find("td", data_key="errors").get("data-value") == "2"
    empty = doc.find("tr", data_deployment="llama3@b")
    assert empty.find("td", data_key="p50").text == "-"
    assert doc.find("svg", cls="latency-chart") and doc.find("svg", cls="error-chart")
    failures = doc.find("table", cls="failures")
    cell = failures.find("td", data_failure="timeout_connect", data_deployment="llama3@a")
    assert cell.get("data-value") == "3"
    zero = failures.find("td", data_failure="timeout_connect", data_deployment="llama3@b")
    assert zero.get("data-value") == "0"
    assert "heat-4" in cell.classes and "heat-0" in zero.classes
    assert_safe(html)


def _rows() -> list[RequestRow]:
    fold = RequestFold()
    events = [
        RequestStarted(
            request_id="r-ok", at=T0, role="gen", model=None, kind=None, stream=False,
            chain=("llama3",), candidates=("llama3@a",), prompt_chars=3, prompt_hash="h",
        ),
        AttemptStarted(request_id="r-ok", at=T0, attempt=1, deployment="llama3@a",
                       model="llama3", endpoint="a"),
        AttemptSucceeded(request_id="r-ok", at=T0 + 2, attempt=1, deployment="llama3@a",
                         latency_s=2.0),
        RequestSucceeded(request_id="r-ok", at=T0 + 2, model="llama3", endpoint="a",
                         attempts=1, latency_s=2.0),
        RequestStarted(
            request_id="r-bad", at=T0 + 5, role=None, model=EVIL, kind=None, stream=False,
            candidates=("x@a",), prompt_chars=3, prompt_hash="h",
        ),
        AttemptStarted(request_id="r-bad", at=T0 + 5, attempt=1, deployment="x@a", model=EVIL,
                       endpoint="a"),
        AttemptFailed(request_id="r-bad", at=T0 + 6, attempt=1, deployment="x@a",
                      failure="http_5xx", retryable=True, message=EVIL, latency_s=1.0),
        RequestFailed(request_id="r-bad", at=T0 + 6, attempts=1, error=EVIL,
                      failure="http_5xx", latency_s=1.0),
    ]  # fmt: skip
    for one in stored(events):
        fold.feed(one)
    return fold.rows()


def test_the_requests_table_links_every_row_to_its_request() -> None:
    rows = _rows()
    values = {"role": "", "model": EVIL, "limit": "20"}
    html = requests_main("failed", [r for r in rows if r.outcome == "failed"], matching=1,
                         total=2, values=values)  # fmt: skip
    assert_safe(html)
    doc = page(html, "requests")
    table = doc.find("table", cls="requests", data_kind="failed")
    row = table.find("tr", data_request_id="r-bad")
    assert row.find("a").get("href") == "request/r-bad"
    assert EVIL in row.text
    assert doc.find("input", name="model").get("value") == EVIL
    assert "1 of 1 matching failed or cancelled requests (2 requests in the log)" in doc.text


def test_an_empty_requests_table_says_nothing_matched() -> None:
    doc = page(requests_main("slow", [], matching=0, total=0, values={}), "requests")
    table = doc.find("table", cls="requests", data_kind="slow")
    assert "no finished request matches these filters" in table.text
    assert not table.find_all("tr", data_request_id="x")


def test_the_request_page_shows_the_waterfall_and_the_outcome() -> None:
    rid = "r-w"
    events = [
        RequestStarted(
            request_id=rid, at=T0, role=None, model=EVIL, kind=None, stream=False,
            candidates=("m@e",), prompt_chars=1, prompt_hash="h",
        ),
        AttemptStarted(request_id=rid, at=T0, attempt=1, deployment="m@e", model="m",
                       endpoint="e"),
        AttemptSucceeded(request_id=rid, at=T0 + 1, attempt=1, deployment="m@e", latency_s=0.9,
                         queue_s=0.05, connect_s=0.05, first_byte_s=0.2),
        RequestSucceeded(request_id=rid, at=T0 + 1, model="m", endpoint="e", attempts=1,
                         latency_s=1.0),
    ]  # fmt: skip
    html = request_main(explain(stored(events)))
    assert_safe(html)
    doc = page(html, "request")
    svg = doc.find("svg", cls="waterfall")
    kinds = {r.get("data-kind") for r in svg.find_all("rect")}
    assert kinds == {"attempt", "queue", "connect", "first_byte", "generation"}
    outcome = doc.find("section", cls="outcome")
    assert outcome.get("data-outcome") == "succeeded"
    assert "m@e" in outcome.text and seconds(1.0) in outcome.text


def test_the_quotas_page_marks_warnings_and_refusals() -> None:
    used = Series(name="used", points=((T0, 2.0), (T0 + 60, 9.0)))
    view = QuotaView(
        span=SPAN,
        limits=(
            QuotaLimitView(
                limit="global.requests", period="day", period_start=T0 - 3600,
                resets_at=T0 + 82800, used=used, used_now=9, limit_value=10,
                warnings=(Mark(at=T0 + 60, label="90% used"),), exceeded=(),
            ),
        ),
    )  # fmt: skip
    html = quotas_main(view)
    assert_safe(html)
    doc = page(html, "quotas")
    section = doc.find("section", cls="quota", data_limit="global.requests")
    assert section.find("svg", cls="burn").find("circle", cls="warning")
    assert not section.find_all("circle", cls="exceeded")
    assert "90.0 % of 10" in section.text and utc(T0 + 82800) in section.text


def test_the_quotas_page_sums_up_a_long_run_of_refusals() -> None:
    refusals = tuple(Mark(at=T0 + i, label=f"refused at {10 + i}") for i in range(50))
    used = Series(name="used", points=((T0, 10.0),))
    view = QuotaView(
        span=SPAN,
        limits=(
            QuotaLimitView(
                limit="global.requests", period="day", period_start=T0, resets_at=T0 + 86400,
                used=used, used_now=10, limit_value=10, warnings=(), exceeded=refusals,
            ),
        ),
    )  # fmt: skip
    doc = page(quotas_main(view), "quotas")
    lines = doc.find("ul", cls="marks").find_all("li", cls="exceeded")
    assert len(lines) == 6
    assert "and 45 more exceeded marks" in lines[-1].text and "refused at 59" in lines[-1].text


def test_the_quotas_page_says_why_it_is_empty() -> None:
    note = "no quota limits in this log or configuration"
    doc = page(quotas_main(QuotaView(span=SPAN, limits=(), note=note)), "quotas")
    assert doc.find("p", cls="note").text == note
    assert not doc.find_all("section", cls="quota")


def test_the_flow_page_draws_links_and_lists_them() -> None:
    view = FlowView(
        span=SPAN, roles=("gen",), models=("llama3", "qwen"), deployments=("llama3@a", "qwen@a"),
        links=(
            FlowLink(source="gen", target="llama3", count=5, kind="route"),
            FlowLink(source="llama3", target="llama3@a", count=4, kind="serve"),
            FlowLink(source="qwen", target="qwen@a", count=1, kind="serve"),
            FlowLink(source="llama3", target="qwen", count=1, kind="fallback"),
        ),
    )  # fmt: skip
    html = flow_main(view)
    assert_safe(html)
    doc = page(html, "flow")
    svg = doc.find("svg", cls="flow")
    link = svg.find("path", cls="link", data_kind="fallback")
    assert (link.get("data-source"), link.get("data-target"), link.get("data-count")) == (
        "llama3",
        "qwen",
        "1",
    )
    assert len(svg.find_all("path", cls="link")) == 4


def test_an_error_page_says_what_was_wrong_as_text() -> None:
    doc = page(error_main(f"--since: cannot read {EVIL!r} as a time"))
    error = doc.find("p", cls="error")
    assert EVIL in error.text
    assert esc(EVIL) != EVIL


_TAGS = {
    "html", "head", "meta", "base", "title", "link", "script", "body", "header", "span", "nav",
    "a", "main", "h1", "h2", "form", "label", "input", "button", "dl", "div", "dt", "dd", "ul",
    "li", "svg", "rect", "line", "text", "g", "path", "circle", "table", "thead", "tbody", "tr",
    "th", "td", "p",
}  # fmt: skip
"""Every element the overview may contain: anything else came from data."""


@settings(max_examples=60, deadline=None)
@given(name=st.text(min_size=1, max_size=30), reason=st.text(max_size=30))
def test_any_text_in_the_log_stays_text(name: str, reason: str) -> None:
    view = overview_model(deployment=name)
    bands = view.deployments[0]
    changed = Band(start=T0, end=T0 + 5, status="degraded", reason=reason)
    view = Overview(
        span=view.span, first_at=view.first_at, last_at=view.last_at, position=view.position,
        totals=view.totals, rate=view.rate,
        deployments=(DeploymentBands(
            deployment=name, bands=(changed,), status_now="degraded", changes=1, out_s=0.0,
        ),),
    )  # fmt: skip
    assert bands.deployment == name
    doc = page(overview_main(view))
    assert {e.tag for e in doc.walk()} <= _TAGS
    assert len(doc.find_all("script")) == 1
    group = doc.find("g", cls="deployment")
    assert group.get("data-deployment") == escape(name)
    assert escape(reason) in group.find("rect", cls="band").find("title").text
