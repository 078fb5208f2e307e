"""HTML building blocks of the web view: escaping, numbers for people, the page layout.

Everything a page shows that came from the log (model names, error messages, request
ids) is data someone else wrote, so it goes through ``esc``: control and bidi characters
become visible escapes (as in the terminal viewer) and then HTML's special characters
become entities. Pages link relatively: the layout sets ``<base href="ROOT/">``, so the
same HTML works with the app at ``/`` (``inspect LOG web``) and under ``/ui`` (serve).

Pure: no I/O, no clock.
"""

from __future__ import annotations

import datetime as dt
import html
import math
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence

from runtime.inspect._escape import escape

__all__ = [
    "NAV",
    "PRESETS",
    "count",
    "esc",
    "esc_lines",
    "layout",
    "ms",
    "percent",
    "query_string",
    "range_picker",
    "seconds",
    "table",
    "utc",
    "utc_short",
]

NAV = (
    ("overview", "./", "Overview"),
    ("latency", "latency", "Latency & errors"),
    ("requests", "requests?kind=slow", "Slowest"),
    ("failed", "requests?kind=failed", "Failed"),
    ("quotas", "quotas", "Quotas"),
    ("flow", "flow", "Flow"),
)
"""(key, relative href, label) of the navigation bar, in order."""

PRESETS = (("15m", "15 min"), ("1h", "1 h"), ("6h", "6 h"), ("24h", "24 h"), ("7d", "7 days"))
"""The time-range picker's quick choices (``since`` values, relative to the span's end)."""


def esc(value: object) -> str:
    """``value`` as text safe inside HTML content and quoted attributes."""
    return html.escape(escape(str(value)), quote=True)


def esc_lines(value: object) -> str:
    """Like ``esc``, but line breaks stay line breaks (for ``white-space: pre-line``)."""
    return html.escape(escape(str(value), keep_newlines=True), quote=True)


def utc(ts: float | None) -> str:
    """``2023-11-14 22:13:20 UTC`` (or ``-``)."""
    if ts is None or not math.isfinite(ts):
        return "-"
    try:
        moment = dt.datetime.fromtimestamp(ts, dt.UTC)
    except (OverflowError, ValueError, OSError):
        return f"bad time {ts:g}"
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def utc_short(ts: float) -> str:
    """``22:13:20`` (UTC, no date): for labels next to a dated heading."""
    try:
        return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%H:%M:%S")
    except (OverflowError, ValueError, OSError):
        return f"{ts:g}"


def seconds(value: float | None) -> str:
    """A duration with its unit: ``850 ms``, ``1.25 s``, ``42 s``, ``4 min 10 s``."""
    if value is None or not math.isfinite(value):
        return "-"
    value = max(value, 0.0)
    if value == 0:
        return "0 s"
    if value < 1:
        return ms(value)
    if value < 10:
        return f"{value:.2f} s"
    if value < 60:
        return f"{value:.0f} s"
    minutes, secs = divmod(round(value), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def ms(value: float | None) -> str:
    """Seconds shown as milliseconds: ``120 ms``, ``4.5 ms`` (or ``-``)."""
    if value is None or not math.isfinite(value):
        return "-"
    millis = value * 1000
    return f"{millis:.1f} ms" if millis < 10 else f"{millis:,.0f} ms"


def count(value: int) -> str:
    """``12,345``."""
    return f"{value:,}"


def percent(value: float | None) -> str:
    """``2.5 %`` (or ``-``)."""
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value * 100:.1f} %"


def query_string(params: Mapping[str, str | int | None]) -> str:
    """``?a=1&b=x`` of the non-empty ``params`` (``""`` when none)."""
    kept = {k: str(v) for k, v in params.items() if v is not None and str(v) != ""}
    return "?" + urllib.parse.urlencode(kept) if kept else ""


def range_picker(
    action: str,
    since: str,
    until: str,
    *,
    hidden: Mapping[str, str] | None = None,
    span_text: str = "",
) -> str:
    """The time-range picker: preset links and a GET form with ``since``/``until``.

    Args:
        action: The page's relative path (``./``, ``latency``...).
        since: ``until``: What the user asked for (shown back in the inputs).
        hidden: Other query parameters of the page to keep (e.g. the requests filters).
        span_text: The span shown, said beside the picker.
    """
    keep = dict(hidden or {})
    links = [
        f'<a href="{esc(action + query_string({**keep, "since": value}))}"'
        f"{' class=current' if since == value and not until else ''}>{esc(label)}</a>"
        for value, label in PRESETS
    ]
    current_all = " class=current" if not since and not until else ""
    links.append(f'<a href="{esc(action + query_string(keep))}"{current_all}>all</a>')
    inputs = "".join(
        f'<input type="hidden" name="{esc(k)}" value="{esc(v)}">' for k, v in keep.items() if v
    )
    return (
        '<form class="range" method="get" action="' + esc(action) + '">'
        '<span class="presets">' + " ".join(links) + "</span>"
        f'<label>since <input name="since" value="{esc(since)}" size="18" '
        'placeholder="e.g. 2h, 2026-03-02 09:00"></label>'
        f'<label>until <input name="until" value="{esc(until)}" size="18" '
        'placeholder="now"></label>' + inputs + '<button type="submit">show</button>'
        f'<span class="span-text">{esc(span_text)}</span></form>'
    )


def _nav(active: str, keep: Mapping[str, str]) -> str:
    """The navigation bar; each link keeps the time range (``keep``) the user chose."""
    items = []
    for key, href, label in NAV:
        path, _, query = href.partition("?")
        params = {**dict(urllib.parse.parse_qsl(query)), **keep}
        target = esc(path + query_string(params))
        items.append(
            f'<a href="{target}"{" class=active" if key == active else ""}>{esc(label)}</a>'
        )
    return '<nav class="top">' + "".join(items) + "</nav>"


def layout(
    *,
    title: str,
    page: str,
    position: int,
    root: str,
    main: str,
    live: bool,
    nav: str | None = None,
    keep: Mapping[str, str] | None = None,
) -> str:
    """The whole HTML document around a page's content.

    Args:
        title: The view's title (the log's name), shown in the header.
        page: ``overview``, ``latency``... (``body[data-page]``).
        position: The last log position the page reflects (``body[data-position]``).
        root: Where the app is mounted (``""`` or ``/ui``): the ``<base>`` of every link.
        main: The page's content (already HTML).
        live: Whether ``live.js`` should follow the log.
        nav: The active navigation entry (default: ``page``).
        keep: Query parameters every navigation link carries (the time range).
    """
    base = esc(root.rstrip("/") + "/")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<base href="{base}"><title>{esc(page)} · {esc(title)}</title>'
        '<link rel="icon" href="data:,">'
        '<link rel="stylesheet" href="static/style.css">'
        '<script src="static/live.js" defer></script></head>\n'
        f'<body data-page="{esc(page)}" data-position="{position}" '
        f'data-live="{1 if live else 0}">'
        f'<header><span class="title">{esc(title)}</span>{_nav(nav or page, keep or {})}'
        f'<span class="live">{"live" if live else "snapshot"}</span></header>\n'
        f'<main id="main">{main}</main></body></html>\n'
    )


def table(
    cls: str,
    headers: Sequence[str],
    rows: Iterable[str],
    *,
    attrs: str = "",
    empty: str = "nothing to show",
) -> str:
    """A ``<table class=cls>`` with a header row and the given ``<tr>`` rows (HTML)."""
    body = "".join(rows)
    if not body:
        body = f'<tr><td class="empty" colspan="{len(headers)}">{esc(empty)}</td></tr>'
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    return (
        f'<table class="{esc(cls)}"{attrs}><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )
