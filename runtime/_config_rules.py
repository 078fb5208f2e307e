"""Bounds, names and paths: the config rules that keep a valid config from breaking later.

A config that passes the check must also run. So besides "positive" and "a ratio",
every number has a sane upper bound (a 2**200 ``max_concurrency`` or a 1e-9 s health
check interval is a typo or an attack, never a setting), names may not contain what
the runtime gives a meaning to (``@`` separates model and endpoint in deployment ids)
or what breaks logs and terminals (control characters), an endpoint name may not look
like a credential (names reach logs, metric labels and events unredacted), and the
event log path must name a file whose directory exists. Pure functions returning the
problem text (or None); the only I/O is ``stat`` of the event log path, which creates
nothing.
"""

from __future__ import annotations

import math
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from actors.endpoint import (
    ChatRequest,
    Message,
    Parameters,
    UnsupportedParameter,
    check_chat_request,
)
from runtime._redaction import redact_text

__all__ = [
    "option_problem",
    "CHECK_INTERVAL",
    "COUNT",
    "DAILY_LIMIT",
    "DAY",
    "DRAIN",
    "DURATION",
    "LONG_DURATION",
    "MAX_ATTEMPTS",
    "POSITIVE",
    "RATIO",
    "UNIT",
    "Range",
    "event_log_path_problem",
    "name_problem",
    "secret_name_problem",
    "shown_number",
]

DAY = 86_400.0
"""One day in seconds: the longest timeout, deadline, backoff or interval accepted."""


def _show(bound: float) -> str:
    if float(bound).is_integer() and abs(bound) >= 10_000:
        return f"{int(bound):_}"
    return f"{bound:g}"


def shown_number(value: float) -> str:
    """``value`` for a message: huge integers by their size, not 60 digits."""
    if isinstance(value, int) and abs(value) >= 10**30:
        return f"an integer of {len(str(abs(value)))} digits"
    return repr(value)


@dataclass(frozen=True)
class Range:
    """An allowed numeric range, rendered in messages as ``> 0`` or ``in (0, 1]``.

    ``or_zero``: 0 is allowed too, meaning "off" (a health check interval).
    """

    low: float
    low_open: bool
    high: float | None = None
    high_open: bool = False
    or_zero: bool = False

    def contains(self, value: float) -> bool:
        if self.or_zero and value == 0:
            return True
        if value <= self.low if self.low_open else value < self.low:
            return False
        return not (
            self.high is not None and (value >= self.high if self.high_open else value > self.high)
        )

    def __str__(self) -> str:
        low, high = _show(self.low), _show(self.high or 0)
        if self.high is None:
            text = f"{'>' if self.low_open else '>='} {low}"
        else:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            text = f"in {left}{low}, {high}{right}"
        return f"0 (off) or {text}" if self.or_zero else text


POSITIVE = Range(0, True, 1e6)
RATIO = Range(0, True, 1)
UNIT = Range(0, False, 1)
COUNT = Range(1, False, 10_000)
"""Thresholds, probes, concurrency: more than 10,000 is a typo."""
MAX_ATTEMPTS = Range(1, False, 100)
DURATION = Range(0.001, False, DAY)
"""Timeouts, deadlines, latencies: at least 1 ms (a smaller one fails every call)."""
LONG_DURATION = Range(0.001, False, 1e6)
"""Quarantines: up to 1e6 s (11.6 days); an operator resets a deployment sooner."""
CHECK_INTERVAL = Range(0.1, False, DAY, or_zero=True)
"""Background health checks: 0 turns them off; below 0.1 s they flood the backends
(a 1e-9 s interval sent thousands of requests a second while idle)."""
DRAIN = Range(0, False, 3600)
DAILY_LIMIT = Range(1, False, 10**15)

_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def name_problem(name: str, what: str, *, at_sign: bool = False) -> str | None:
    """Why ``name`` cannot be a ``what`` name, or None; ``at_sign`` allows ``@``."""
    for char in name:
        if unicodedata.category(char) in _INVISIBLE:
            return (
                f"{name!r} contains a control or invisible character ({char!r}); "
                "names reach logs, metrics and terminals: use printable characters"
            )
    if not at_sign and "@" in name:
        return (
            f"{name!r} contains '@', which separates model and endpoint in deployment "
            f"ids ('model@endpoint'); choose a {what} name without it, "
            f"e.g. {name.replace('@', '-')!r}"
        )
    return None


def secret_name_problem(name: str) -> str | None:
    """Why ``name`` looks like a credential and may not name an endpoint, or None.

    The name is not echoed: if it is a key, the message must not repeat it.
    """
    if redact_text(name) == name and not _looks_random(name.strip()):
        return None
    return (
        "looks like an API key or token; endpoint names appear unredacted in logs, "
        "metric labels and events: name the server (e.g. 'gpu-box') and put the key "
        "in an environment variable named by api_key_env"
    )


def _looks_random(text: str) -> bool:
    """A long, token-shaped, high-entropy string (a key without a known prefix)."""
    if len(text) < 20 or not all(c.isascii() and (c.isalnum() or c in "_-+/=.") for c in text):
        return False
    if text.startswith(("eyJ", "hf_", "glpat-", "github_pat_", "pk_live_", "rk_live_")):
        return True  # a JWT, Hugging Face, GitLab, GitHub or Stripe token
    if len(text) >= 32 and all(c in "0123456789abcdefABCDEF" for c in text):
        return True  # a hex key (a UUID, with its dashes, is not caught here)
    classes = sum(any(test(c) for c in text) for test in (str.islower, str.isupper, str.isdigit))
    counts = Counter(text)
    entropy = -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())
    return classes == 3 and entropy >= 3.5


def event_log_path_problem(path: str) -> str | None:
    """Why ``path`` cannot be the event log file, or None. Creates nothing."""
    if not path.strip():
        return "must not be empty; name the SQLite file of the event log"
    if "\0" in path:
        return "contains a NUL byte, which no file name can; remove it"
    invisible = name_problem(path, "path", at_sign=True)
    if invisible is not None:
        return invisible.replace("names reach", "paths reach")
    file = Path(path)
    try:
        if file.is_dir():
            return (
                f"{path!r} is a directory; name a file in it, "
                f"e.g. {str(file / 'runtime-events.sqlite3')!r}"
            )
        parent = file.parent
        if not parent.exists():
            hint = " ('~' is not expanded; write the full path)" if path.startswith("~") else ""
            return (
                f"directory {str(parent)!r} does not exist{hint}; create it first "
                "(checking the config creates nothing)"
            )
        if not parent.is_dir():
            return f"{str(parent)!r} is not a directory, so it cannot hold the event log"
    except OSError as exc:
        return f"{path!r} cannot be checked: {exc.strerror or exc}"
    return None


def option_problem(
    model: str, options: Mapping[str, object], endpoints: Sequence[str], apis: Mapping[str, str]
) -> tuple[str, str] | None:
    """``(option, why)`` when one of ``endpoints`` (its API in ``apis``) could not carry
    one of a model's default ``options`` (an Ollama-only option on an OpenAI endpoint, a
    field the runtime owns), else None: checked at load, so no call is refused later for
    the config's sake."""
    if not options:
        return None
    request = ChatRequest(
        model=model, messages=(Message(role="user"),), params=Parameters(options=dict(options))
    )
    for endpoint in (e for e in endpoints if e in apis):
        try:
            check_chat_request(apis[endpoint], request)
        except UnsupportedParameter as exc:
            return exc.parameter.removeprefix("options."), f"{exc.why} (endpoint {endpoint!r})"
        except ValueError as exc:  # a field the runtime owns (model, messages, stream...)
            owned = sorted(k for k in options if k in ("model", "messages", "stream"))
            return (owned or [""])[0], f"{exc} (endpoint {endpoint!r})"
    return None
