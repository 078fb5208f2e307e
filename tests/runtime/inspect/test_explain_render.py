"""``explain``'s text: header, plan, numbered steps with offsets, summary."""

from __future__ import annotations

import datetime as dt

from runtime.inspect._explain_model import explain
from runtime.inspect._explain_render import render_explanation
from runtime.inspect._render import Style
from tests.runtime.inspect._requests import stored
from tests.runtime.inspect.test_explain_model import QUARANTINED_B, RID, fallback_request

UTC = dt.UTC


def test_the_text_reads_top_to_bottom() -> None:
    expl = explain(stored(fallback_request()), stored([QUARANTINED_B]))
    text = render_explanation(expl, Style(width=100), UTC)
    lines = text.splitlines()
    assert lines[0] == f"Request {RID}"
    assert "  asked for   role 'gen', not streaming, 1 message, 11 prompt characters" in lines
    assert "  started     2023-11-14 22:13:20.000" in lines
    assert "  outcome     succeeded: answered by qwen@a after 3 attempts, 1 fallback in 0.222s" in (
        lines
    )
    assert "  models      llama3 -> qwen   (the first model, then its fallbacks in order)" in lines
    assert "  candidates  1. llama3@a  2. llama3@b  3. qwen@a" in lines
    numbered = [line for line in lines if line[:4].strip().isdigit()]
    assert [line.split()[0] for line in numbered] == ["1", "2", "3", "4", "5", "6"]
    assert numbered[1].split()[1] == "+0.012s"
    assert "fell back from llama3 to qwen because its attempts failed" in numbered[3]
    assert "      a: HTTP 500" in text  # the error message under its attempt
    assert text.index("Summary") > text.index("What happened")
    assert all(len(line) <= 100 for line in lines)


def test_colour_only_when_asked() -> None:
    expl = explain(stored(fallback_request()))
    assert "\x1b[" not in render_explanation(expl, Style(color=False))
    coloured = render_explanation(expl, Style(color=True))
    assert "\x1b[31m" in coloured and "\x1b[32m" in coloured  # failures red, success green
