"""Context windows: which deployments a request can fit in (pure).

A request needs about ``ceil(characters / 4)`` prompt tokens (the quota estimate's
rule, ``actors.quota.estimate_tokens``) plus its ``max_tokens`` (the call's, else its
model's; with neither, the prompt alone). An embeddings request needs its longest
input only (each input is embedded on its own, nothing is generated).

A deployment's window, first found of:

1. ``options.num_ctx`` of the call (over the model's configured ``options``): what
   Ollama runs that call with;
2. the model's configured ``context_length``;
3. what the catalog discovered at its last list refresh (llama.cpp ``/props``, Ollama
   ``/api/show``, ``/v1/models`` metadata; see ``actors.endpoint._facts``);

else it is unknown, and unknown never blocks.

Planning skips a deployment the request cannot fit in (``CandidateSkipped`` reason
``context_window``, the numbers in its detail), so the chain moves on to a model that
fits. A backend's own overflow error (``context_overflow``) rules out the deployment
and every later one whose known window is not larger (of the same model too when the
window that overflowed is unknown), without any health penalty. Only when nothing
of the chain fits does the request end with ``RequestRejected`` (failure
``context_overflow``), whose message gives the estimate and the largest window.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from actors.endpoint import context_from_options
from actors.router._errors import RequestRejected
from actors.router._select import Skip
from actors.router._types import AttemptRecord, ModelSettings, RouteRequest

__all__ = [
    "CONTEXT_WINDOW",
    "OVERFLOW",
    "blocks",
    "needed_tokens",
    "nothing_fits",
    "ruled_out_by_overflow",
    "windows_of",
]

CONTEXT_WINDOW = "context_window"
"""``CandidateSkipped.reason`` of a deployment the request does not fit in."""
OVERFLOW = "context_overflow"
"""The failure class value of a backend's overflow error."""


def prompt_tokens(request: RouteRequest) -> int:
    """The prompt's estimated tokens: characters / 4, rounded up (the longest input of
    an embeddings request)."""
    if request.inputs:
        return math.ceil(max(len(t) for t in request.inputs) / 4)
    return math.ceil(sum(len(m.text) for m in request.messages) / 4)


def completion_tokens(request: RouteRequest, model_max_tokens: int | None) -> int:
    """Tokens the request may generate: its ``max_tokens``, else the model's, else 0."""
    if request.inputs:
        return 0
    limit = request.params.max_tokens or model_max_tokens
    return max(limit or 0, 0)


def needed_tokens(request: RouteRequest, model_max_tokens: int | None) -> int:
    """Prompt estimate + completion limit: what must fit in the window."""
    return prompt_tokens(request) + completion_tokens(request, model_max_tokens)


def windows_of(
    request: RouteRequest,
    deployments: Iterable[str],
    models: Mapping[str, ModelSettings],
    discovered: Mapping[str, int],
) -> dict[str, int]:
    """Deployment id -> its window for this request (the module docstring's order);
    deployments with an unknown window are absent."""
    found: dict[str, int] = {}
    for did in deployments:
        model = did.rpartition("@")[0]
        settings = models.get(model)
        options = request.params.options
        if settings is not None:
            options = {**settings.defaults.options, **options}
        window = context_from_options(options)
        if window is None and settings is not None:
            window = settings.context_length
        if window is None:
            window = discovered.get(did)
        if window is not None:
            found[did] = window
    return found


def blocks(
    request: RouteRequest, windows: Mapping[str, int], max_tokens: Mapping[str, int | None]
) -> dict[str, tuple[str, str]]:
    """Deployment id -> ``(CONTEXT_WINDOW, detail)`` for each the request does not fit
    in; ``max_tokens`` is each model's configured default."""
    found: dict[str, tuple[str, str]] = {}
    prompt = prompt_tokens(request)
    for did, window in windows.items():
        completion = completion_tokens(request, max_tokens.get(did.rpartition("@")[0]))
        if prompt + completion > window:
            found[did] = (CONTEXT_WINDOW, _detail(prompt, completion, window))
    return found


def _detail(prompt: int, completion: int, window: int) -> str:
    need = f"needs ~{prompt + completion} tokens (prompt ~{prompt} = characters/4"
    need += f", + max_tokens {completion})" if completion else ", no max_tokens)"
    return f"{need}, more than its context window of {window}"


def ruled_out_by_overflow(
    did: str, overflowed: Mapping[str, int | None], windows: Mapping[str, int]
) -> str | None:
    """Why ``did`` cannot take a request that overflowed ``overflowed`` (deployment id ->
    its window then, None if unknown), or None when it may be larger."""
    model = did.rpartition("@")[0]
    window = windows.get(did)
    for failed, size in overflowed.items():
        if size is None:
            if failed.rpartition("@")[0] == model:
                return f"{failed} (same model) overflowed; its window is not larger"
        elif window is not None and window <= size:
            return f"{failed} overflowed with a window of {size}; this one's is {window}"
    return None


def nothing_fits(
    request_id: str,
    request: RouteRequest,
    records: tuple[AttemptRecord, ...],
    skipped: tuple[Skip, ...],
    windows: Mapping[str, int],
    max_tokens: Mapping[str, int | None],
) -> RequestRejected | None:
    """The error of a request no deployment of the chain can fit: every skip was for
    its size and every attempt overflowed (at least one of either); else None."""
    if not skipped and not records:
        return None
    if any(s.reason != CONTEXT_WINDOW for s in skipped):
        return None
    if any(r.failure != OVERFLOW for r in records):
        return None
    prompt = prompt_tokens(request)
    largest = max(windows.items(), key=lambda item: item[1], default=None)
    tried = {s.deployment for s in skipped} | {r.deployment for r in records}
    completion = max(
        (completion_tokens(request, max_tokens.get(d.rpartition("@")[0])) for d in tried),
        default=0,
    )
    where = f"{largest[1]} tokens ({largest[0]})" if largest else "unknown"
    message = (
        f"the request needs ~{prompt + completion} tokens (prompt ~{prompt} = "
        f"characters/4, + max_tokens {completion}) and no model of the chain fits it: "
        f"the largest known context window is {where}"
    )
    if records:
        message += f"; {len(records)} backend(s) answered context overflow"
    status = records[-1].status if records else None
    return RequestRejected(request_id, records, OVERFLOW, message, status, by_backend=False)
