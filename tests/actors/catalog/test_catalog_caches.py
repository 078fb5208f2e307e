"""The catalog actor's caches of answers that depend on its lists alone (pure)."""

from __future__ import annotations

from actors.catalog import CatalogState, context_lengths, evolve
from actors.catalog._shared import Served, Surveys, unlisted
from events import ModelListFailed, ModelListRefreshed


def test_a_survey_answers_unlisted_and_windows_until_the_lists_change() -> None:
    listed = ModelListRefreshed(
        endpoint="a", models=("llama3:latest",), at=1.0, context_lengths={"llama3:latest": 8192}
    )
    state = evolve(CatalogState(), listed)
    dids = ("llama3@a", "qwen@a", "llama3@b")
    surveys = Surveys()
    first = surveys.answer(state, dids)
    assert first.unlisted == unlisted(state, dids).deployments == frozenset({"qwen@a"})
    assert first.lengths == context_lengths(state, dids) == {"llama3@a": 8192}
    assert surveys.answer(state, dids) is first  # same lists, same ids: kept
    state = evolve(state, ModelListRefreshed(endpoint="a", models=("qwen",), at=2.0))
    second = surveys.answer(state, dids)  # new lists: asked again
    assert second.unlisted == frozenset({"llama3@a"}) and second.lengths == {}


def test_served_is_kept_only_while_the_lists_stay_the_same_and_known() -> None:
    state = evolve(CatalogState(), ModelListRefreshed(endpoint="a", models=("m",), at=1.0))
    served = Served()
    served.note(state, "m", {"a": "http://a", "b": "http://b"})  # b's list is unknown
    assert not served.known(state, "m", {"a": "http://a", "b": "http://b"})
    served.note(state, "m", {"a": "http://a"})
    assert served.known(state, "m", {"a": "http://a"})
    assert not served.known(state, "other", {"a": "http://a"})
    state = evolve(state, ModelListFailed(endpoint="a", error="refused", at=2.0))
    assert not served.known(state, "m", {"a": "http://a"})  # any change: asked again
