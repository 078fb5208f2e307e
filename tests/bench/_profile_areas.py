"""A cProfile run's own CPU time (``tottime``) summed by area: our packages, each library.

Where a request's CPU goes, in microseconds per request: ``events``, each ``actors``
package, ``runtime``, the HTTP libraries, the event loop (``asyncio``), SQLite's
driver, and each C function by name (socket sends, encoders...). Profile with
``cProfile.Profile(time.process_time)`` so that waits (an idle ``epoll``) count nothing;
the SQLite thread's CPU then lands on whatever the loop ran meanwhile.
"""

from __future__ import annotations

import pstats
from collections import defaultdict

__all__ = ["by_area", "print_areas"]

_LIBRARIES = (
    "aiohttp", "httpx", "httpcore", "h11", "anyio", "msgspec", "aiosqlite", "sqlite3",
    "structlog", "yarl", "multidict", "asyncio", "uvloop", "selectors", "logging",
)  # fmt: skip


def _area(filename: str, function: str) -> str:
    if filename == "~":  # a C function: name it (socket sends, epoll waits, encoders...)
        return "C " + function.strip("{}<>").replace("method ", "").replace(" objects", "")
    path = filename.replace("\\", "/")
    for package in ("events", "runtime"):
        if f"/{package}/" in path and "site-packages" not in path:
            return package
    if "/actors/" in path and "site-packages" not in path:
        tail = path.split("/actors/", 1)[1]
        return "actors/" + tail.split("/", 1)[0] if "/" in tail else "actors"
    for library in _LIBRARIES:
        if f"/{library}/" in path or path.endswith(f"/{library}.py"):
            return library
    return "other"


def by_area(stats: pstats.Stats) -> dict[str, float]:
    """Seconds of own time per area."""
    found: dict[str, float] = defaultdict(float)
    for (filename, _, function), row in stats.stats.items():  # type: ignore[attr-defined]
        found[_area(filename, function)] += row[2]
    return dict(found)


def print_areas(stats: pstats.Stats, requests: int) -> None:
    """Own time per area in us per request, largest first."""
    areas = sorted(by_area(stats).items(), key=lambda item: -item[1])
    total = sum(seconds for _, seconds in areas)
    print(f"  profiled CPU: {total / requests * 1e6:.0f} us per request, by area:")
    small = 0.0
    for area, seconds in areas:
        if seconds / total < 0.01:
            small += seconds
            continue
        print(f"    {area[:40]:40} {seconds / requests * 1e6:7.1f} us  {seconds / total:6.1%}")
    rest = "(areas under 1 % each)"
    print(f"    {rest:40} {small / requests * 1e6:7.1f} us  {small / total:6.1%}")
