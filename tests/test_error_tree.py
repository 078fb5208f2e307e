"""One error tree: every exported exception derives from ``LLMRuntimeError``, once."""

from __future__ import annotations

import importlib
import pickle
import pkgutil
from collections.abc import Iterator

import pytest

import actors
import events
import runtime
from actors import AskTimeout, DuplicateActorName, MailboxFull
from actors.catalog import ModelNotFoundError
from actors.quota import QuotaExceeded
from actors.router import AllCandidatesFailed, AttemptRecord, StreamBroken
from events import ConcurrencyConflict, LLMRuntimeError

ROOTS = (events, actors, runtime)


def public_packages() -> Iterator[str]:
    """Our packages and every public subpackage or module that declares ``__all__``."""
    for root in ROOTS:
        yield root.__name__
        for info in pkgutil.walk_packages(root.__path__, prefix=f"{root.__name__}."):
            if not any(part.startswith("_") for part in info.name.split(".")):
                yield info.name


def exported_exceptions() -> list[tuple[str, type[BaseException]]]:
    """``(module.Name, class)`` for every exception class in a public ``__all__``."""
    found = []
    for name in public_packages():
        module = importlib.import_module(name)
        for attr in getattr(module, "__all__", ()):
            value = getattr(module, attr)
            if isinstance(value, type) and issubclass(value, BaseException):
                found.append((f"{name}.{attr}", value))
    return found


def test_the_walk_finds_the_known_errors() -> None:
    classes = {cls for _, cls in exported_exceptions()}
    assert {LLMRuntimeError, ConcurrencyConflict, MailboxFull, StreamBroken} <= classes
    assert len(classes) >= 30


@pytest.mark.parametrize(("where", "cls"), exported_exceptions(), ids=lambda v: str(v))
def test_every_exported_error_derives_from_the_root(where: str, cls: type[BaseException]) -> None:
    assert issubclass(cls, LLMRuntimeError), f"{where} is not an LLMRuntimeError"


def test_every_error_is_defined_once() -> None:
    """No mirrored copies: one name, one class, wherever it is exported from."""
    by_name: dict[str, set[type[BaseException]]] = {}
    for _, cls in exported_exceptions():
        by_name.setdefault(cls.__name__, set()).add(cls)
    twins = {name: classes for name, classes in by_name.items() if len(classes) > 1}
    assert not twins


def test_runtime_re_exports_the_lower_layers_classes() -> None:
    assert runtime.QuotaExceeded is QuotaExceeded
    assert runtime.ModelNotFoundError is ModelNotFoundError
    assert runtime.StreamBroken is StreamBroken
    assert runtime.LLMRuntimeError is events.LLMRuntimeError is actors.ActorError.__base__
    assert runtime.StorageUnavailable is events.StorageUnavailable


def test_the_standard_traits_are_kept() -> None:
    assert issubclass(runtime.ConfigError, ValueError)
    assert issubclass(runtime.InvalidRequest, ValueError)
    assert issubclass(AskTimeout, TimeoutError)
    assert issubclass(DuplicateActorName, ValueError)
    assert issubclass(runtime.WouldDeadlock, RuntimeError)


def test_the_stream_error_and_the_event_have_different_names() -> None:
    """``events.StreamInterrupted`` is the stored event; the error is ``StreamBroken``."""
    assert not issubclass(events.StreamInterrupted, BaseException)
    assert runtime.StreamInterrupted is events.StreamInterrupted
    assert not hasattr(actors.router, "StreamInterrupted")


RECORD = AttemptRecord(
    attempt=1,
    deployment="llama3@a",
    model="llama3",
    endpoint="a",
    ok=False,
    failure="server_error",
    message="503",
    status=503,
)
SAMPLES: list[LLMRuntimeError] = [
    ConcurrencyConflict("request/1", 0, 2),
    MailboxFull("router", 8),
    AskTimeout("router", "PlanRoute", 1.5),
    ModelNotFoundError("llama9", {"a": "http://127.0.0.1:1"}, ["llama3"]),
    QuotaExceeded(
        "over", limit="global.requests", used=3, limit_value=3, requested=1, resets_at=9.0
    ),
    AllCandidatesFailed("r1", [RECORD], reason="retry budget exhausted"),
    StreamBroken(
        "r1", [RECORD], partial="Hel", failure="reset", deployment="llama3@a", message="eof"
    ),
]


@pytest.mark.parametrize("error", SAMPLES, ids=lambda e: type(e).__name__)
def test_errors_with_their_own_init_pickle_with_their_attributes(
    error: LLMRuntimeError,
) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert vars(copy) == vars(error)
