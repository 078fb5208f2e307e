"""Measuring rounds of the ``runtime_chat`` sides and printing the comparison table.

A round runs N requests of one side from C workers and notes the throughput, the
latencies and the process CPU time per request (``time.process_time()``: every thread
of this process, the event loop's and SQLite's; the backend runs in a child process so
its CPU is not counted). Rounds alternate the sides (each round starts with the next
side), and the median round of each side counts.

Targets (issue 17), per mode and concurrency: ``Runtime`` >= 1.0x direct httpx at
every concurrency; >= 0.5x direct aiohttp at concurrency 1 and 32; the runtime's own
CPU (Runtime minus its transport alone) <= 150 us per request.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable, Mapping

import msgspec

from tests.bench._chat_sides import SIDES, SideCall

__all__ = [
    "OWN_CPU_TARGET_US",
    "Round",
    "Row",
    "markdown_table",
    "measure",
    "measure_row",
    "print_row",
]

HTTPX_TARGET = 1.0
AIOHTTP_TARGET = 0.5
AIOHTTP_TARGET_AT = (1, 32)
OWN_CPU_TARGET_US = 150.0


class Round(msgspec.Struct, frozen=True):
    throughput: float
    p50_ms: float
    p99_ms: float
    cpu_us: float
    """Process CPU time (all threads: the event loop and SQLite's) per request."""


class Row(msgspec.Struct, frozen=True, kw_only=True):
    """The median round of every side at one mode and concurrency, with the verdicts."""

    mode: str
    concurrency: int
    sides: dict[str, Round]

    @property
    def vs_httpx(self) -> float:
        return self.sides["runtime"].throughput / self.sides["httpx"].throughput

    @property
    def vs_aiohttp(self) -> float:
        return self.sides["runtime"].throughput / self.sides["aiohttp"].throughput

    @property
    def own_cpu_us(self) -> float:
        """The runtime's own CPU per request: Runtime minus its transport alone."""
        return self.sides["runtime"].cpu_us - self.sides["transport"].cpu_us

    def verdicts(self) -> dict[str, bool]:
        """Each target that applies here: whether it is met."""
        found = {f"runtime >= {HTTPX_TARGET:g}x httpx": self.vs_httpx >= HTTPX_TARGET}
        if self.concurrency in AIOHTTP_TARGET_AT:
            found[f"runtime >= {AIOHTTP_TARGET:g}x aiohttp"] = self.vs_aiohttp >= AIOHTTP_TARGET
        found[f"own CPU <= {OWN_CPU_TARGET_US:g} us"] = self.own_cpu_us <= OWN_CPU_TARGET_US
        return found


async def measure(call: SideCall, concurrency: int, requests: int) -> Round:
    """Run ``requests`` calls from ``concurrency`` workers; throughput and latencies."""
    latencies: list[float] = []
    left = requests

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            started = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - started)

    began, cpu_began = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    cpu = time.process_time() - cpu_began
    ordered = sorted(latencies)
    return Round(
        cpu_us=1e6 * cpu / len(ordered),
        throughput=len(ordered) / elapsed,
        p50_ms=1000 * ordered[len(ordered) // 2],
        p99_ms=1000 * ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
    )


def median(rounds: list[Round]) -> Round:
    """The median-throughput round's throughput; the medians of the rest."""
    by_throughput = sorted(rounds, key=lambda r: r.throughput)
    middle = by_throughput[len(by_throughput) // 2]
    return Round(
        throughput=middle.throughput,
        p50_ms=statistics.median(r.p50_ms for r in rounds),
        p99_ms=statistics.median(r.p99_ms for r in rounds),
        cpu_us=statistics.median(r.cpu_us for r in rounds),
    )


async def measure_row(
    mode: str,
    calls: Mapping[str, SideCall],
    concurrency: int,
    requests: int,
    rounds: int,
    progress: Callable[[str], None],
) -> Row:
    """``rounds`` rounds of every side, alternating, at ``concurrency``; the medians."""
    kept: dict[str, list[Round]] = {side: [] for side in SIDES}
    for number in range(rounds):
        order = SIDES[number % len(SIDES) :] + SIDES[: number % len(SIDES)]
        for side in order:
            kept[side].append(await measure(calls[side], concurrency, requests))
        progress(f"  {mode} c={concurrency}: round {number + 1}/{rounds} done")
    return Row(
        mode=mode,
        concurrency=concurrency,
        sides={side: median(found) for side, found in kept.items()},
    )


def print_row(row: Row) -> None:
    """The row as text: each side's req/s and CPU, the ratios, the verdicts."""
    s = row.sides
    print(
        f"{row.mode:6} c={row.concurrency:<3} "
        + " | ".join(
            f"{side} {s[side].throughput:6.0f} req/s {s[side].cpu_us:5.0f} us" for side in SIDES
        )
    )
    print(
        f"    Runtime/httpx {row.vs_httpx:.2f}  Runtime/aiohttp {row.vs_aiohttp:.2f}  "
        f"runtime's own CPU {row.own_cpu_us:.0f} us/req  "
        f"p50 ms httpx {s['httpx'].p50_ms:.2f} aiohttp {s['aiohttp'].p50_ms:.2f} "
        f"runtime {s['runtime'].p50_ms:.2f}"
    )
    for name, met in row.verdicts().items():
        print(f"    target {name}: {'PASS' if met else 'MISS'}")


def markdown_table(rows: list[Row], note: str) -> str:
    """The rows as a Markdown table (for the README's performance section)."""
    head = (
        "| mode | c | httpx req/s | aiohttp req/s | transport req/s | Runtime req/s "
        "| Runtime/httpx | Runtime/aiohttp | CPU µs/req httpx / aiohttp / transport / Runtime "
        "| runtime's own CPU µs |"
    )
    lines = [head, "|" + "---|" * 10]
    for row in rows:
        s = row.sides
        cpu = " / ".join(f"{s[side].cpu_us:.0f}" for side in SIDES)
        lines.append(
            f"| {row.mode} | {row.concurrency} | {s['httpx'].throughput:.0f} "
            f"| {s['aiohttp'].throughput:.0f} | {s['transport'].throughput:.0f} "
            f"| {s['runtime'].throughput:.0f} | {row.vs_httpx:.2f} | {row.vs_aiohttp:.2f} "
            f"| {cpu} | {row.own_cpu_us:.0f} |"
        )
    return "\n".join([*lines, "", note])
