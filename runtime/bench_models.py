"""Benchmark the configured models: tokens/s, time to first token, latency.

Usage::

    python -m runtime.bench_models --config llm.yaml [--prompts 10] [--models a,b]
                                   [--max-tokens 128] [--json]

Each model gets the same N short prompts, one at a time, streamed through the Runtime
(``model=``, so routing, retries and health apply as in production, and the requests
are recorded in the config's event log like any other). Per model it reports requests
ok/failed, tokens/s (p50), TTFT (p50/p95) and latency (p50/p95/p99).

Definitions: *TTFT* is the time from sending the request to the first chunk with text;
*latency* the time to the end of the stream; *tokens/s* is completion tokens (as the
backend reports them, else whitespace-separated words) over the generation time
(latency minus TTFT, or latency when that is zero). Percentiles interpolate linearly.

Exit status: 0 when every model answered at least once; 1 when some model failed every
request (it is still reported); 2 for a bad command line or configuration (one line on
stderr, no traceback).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import sys
import time
from collections.abc import Sequence

import msgspec

from runtime._config import RuntimeConfig
from runtime._config_load import load_config
from runtime._errors import ConfigError, LLMRuntimeError
from runtime._logging import configure_logging
from runtime._progress import Progress
from runtime._runtime import Runtime

__all__ = ["PROMPTS", "ModelReport", "Sample", "main", "percentile", "summarize"]

PROMPTS: tuple[str, ...] = (
    "Say hello in one short sentence.",
    "Write a Python function that reverses a string.",
    "What is the capital of France? Answer in one word.",
    "List three prime numbers.",
    "Explain recursion to a child in two sentences.",
    "Translate 'good morning' into German.",
    "Give one tip for writing readable code.",
    "What does HTTP status 503 mean?",
    "Summarise the plot of Romeo and Juliet in one sentence.",
    "Write a haiku about a server that never sleeps.",
    "Convert 100 degrees Fahrenheit to Celsius.",
    "Name two sorting algorithms and their complexity.",
)
"""Short, varied prompts; cycled when more are asked for."""


class Sample(msgspec.Struct, frozen=True, kw_only=True):
    """One successful request."""

    ttft_s: float
    latency_s: float
    tokens: int


class Percentiles(msgspec.Struct, frozen=True, kw_only=True):
    """Percentiles of one measure, in seconds (None when no request succeeded)."""

    p50: float | None = None
    p95: float | None = None
    p99: float | None = None


class ModelReport(msgspec.Struct, frozen=True, kw_only=True):
    """The benchmark of one model."""

    model: str
    ok: int
    failed: int
    tokens_per_s_p50: float | None
    ttft_s: Percentiles
    latency_s: Percentiles
    last_error: str | None = None
    """The last failure's message, when any request failed."""


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) by linear interpolation; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(model: str, samples: Sequence[Sample], errors: Sequence[str]) -> ModelReport:
    """Turn one model's samples and error messages into its report."""
    rates = [s.tokens / _generation_time(s) for s in samples if _generation_time(s) > 0]
    ttft = [s.ttft_s for s in samples]
    latency = [s.latency_s for s in samples]
    return ModelReport(
        model=model,
        ok=len(samples),
        failed=len(errors),
        tokens_per_s_p50=percentile(rates, 50),
        ttft_s=Percentiles(p50=percentile(ttft, 50), p95=percentile(ttft, 95)),
        latency_s=Percentiles(
            p50=percentile(latency, 50), p95=percentile(latency, 95), p99=percentile(latency, 99)
        ),
        last_error=errors[-1] if errors else None,
    )


def _generation_time(sample: Sample) -> float:
    generation = sample.latency_s - sample.ttft_s
    return generation if generation > 0 else sample.latency_s


async def _one(rt: Runtime, model: str, prompt: str, max_tokens: int) -> Sample:
    """Stream one prompt; measure TTFT, latency and tokens."""
    messages = [{"role": "user", "content": prompt}]
    started = time.perf_counter()
    ttft: float | None = None
    text: list[str] = []
    completion: int | None = None
    async with contextlib.aclosing(rt.stream(messages, model=model, max_tokens=max_tokens)) as it:
        async for chunk in it:
            if chunk.content and ttft is None:
                ttft = time.perf_counter() - started
            text.append(chunk.content)
            if chunk.usage is not None:
                completion = chunk.usage.completion_tokens
    latency = time.perf_counter() - started
    tokens = completion if completion is not None else len("".join(text).split())
    return Sample(ttft_s=latency if ttft is None else ttft, latency_s=latency, tokens=tokens)


async def bench_model(rt: Runtime, model: str, prompts: int, max_tokens: int) -> ModelReport:
    """Run ``prompts`` requests against ``model``, one after another."""
    samples: list[Sample] = []
    errors: list[str] = []
    with Progress(total=prompts, label=model) as bar:
        for index in range(prompts):
            try:
                samples.append(await _one(rt, model, PROMPTS[index % len(PROMPTS)], max_tokens))
            except LLMRuntimeError as exc:
                errors.append(f"{type(exc).__name__}: {_first_line(str(exc))}")
            bar.advance()
    return summarize(model, samples, errors)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def choose_models(config: RuntimeConfig, requested: str | None) -> list[str]:
    """The model names to benchmark: all configured, or ``--models`` (names or aliases).

    Raises:
        ValueError: A requested model is not configured (the message lists those that are).
    """
    names = {m.name: m.name for m in config.models}
    names.update({m.alias: m.name for m in config.models if m.alias})
    if not requested:
        return [m.name for m in config.models]
    chosen: list[str] = []
    for name in (part.strip() for part in requested.split(",")):
        if not name:
            continue
        if name not in names:
            known = ", ".join(m.name for m in config.models)
            raise ValueError(f"--models: {name!r} is not configured; configured: {known}")
        if names[name] not in chosen:
            chosen.append(names[name])
    if not chosen:
        raise ValueError("--models: no model named")
    return chosen


def render_table(reports: Sequence[ModelReport]) -> str:
    """A plain-text table, one row per model, then the last error of failing models."""
    header = ("model", "ok", "failed", "tok/s p50", "ttft p50", "ttft p95", "lat p50",
              "lat p95", "lat p99")  # fmt: skip
    rows = [header] + [
        (
            r.model,
            str(r.ok),
            str(r.failed),
            _num(r.tokens_per_s_p50, 1),
            _num(r.ttft_s.p50),
            _num(r.ttft_s.p95),
            _num(r.latency_s.p50),
            _num(r.latency_s.p95),
            _num(r.latency_s.p99),
        )
        for r in reports
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("(times in seconds)")
    lines.extend(f"{r.model}: last error: {r.last_error}" for r in reports if r.last_error)
    return "\n".join(lines)


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m runtime.bench_models",
        description="Benchmark every configured model (or --models) through the Runtime: "
        "tokens/s, time to first token and latency percentiles.",
    )
    parser.add_argument("--config", required=True, help="the runtime config (YAML or TOML)")
    parser.add_argument("--prompts", type=_positive, default=10, help="prompts per model (10)")
    parser.add_argument("--models", help="comma-separated model names or aliases (all)")
    parser.add_argument("--max-tokens", type=_positive, default=128, help="cap per reply (128)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


async def run(args: argparse.Namespace, config: RuntimeConfig, models: list[str]) -> int:
    """Benchmark ``models`` and print the result; returns the exit status."""
    async with Runtime.from_config(config) as rt:
        reports = [await bench_model(rt, m, args.prompts, args.max_tokens) for m in models]
    if args.json:
        body = {"config": args.config, "prompts": args.prompts, "max_tokens": args.max_tokens,
                "models": reports}  # fmt: skip
        print(msgspec.json.encode(body).decode())
    else:
        print(render_table(reports))
    return 1 if any(r.ok == 0 for r in reports) else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (see the module docstring)."""
    args = _parser().parse_args(argv)
    # Runtime warnings only, on stderr: stdout carries the table or the JSON.
    configure_logging(level="warning")
    try:
        config = load_config(args.config)
        models = choose_models(config, args.models)
        return asyncio.run(run(args, config, models))
    except ConfigError as exc:
        problems = "; ".join(str(p) for p in exc.problems)
        print(f"bench_models: invalid configuration: {problems}", file=sys.stderr)
    except (ValueError, LLMRuntimeError) as exc:
        print(f"bench_models: {_first_line(str(exc))}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
