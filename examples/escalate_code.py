"""Escalation with full context, end to end, on a machine with no LLM installed.

A local chaos backend plays two models: ``codellama`` (role ``generator``) answers
with broken code (``def add(a, b)`` without its colon), ``qwen2.5-coder:14b`` (role
``escalation``) with the fix. Each candidate is run with its test in a separate,
isolated Python process; the failure, with its error output, goes to the escalation
role, whose fix passes.

Run it::

    PYTHONPATH=. python examples/escalate_code.py

``rt.escalate`` records every step in the runtime's event log (stream
``escalation/<id>``); the example prints them from a subscription as they happen.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

from events import EscalationEvent, Event
from runtime import (
    CheckResult,
    EndpointConfig,
    EscalationResult,
    EventLogConfig,
    HealthConfig,
    ModelConfig,
    RoleConfig,
    Runtime,
    RuntimeConfig,
    configure_logging,
)
from runtime.testing import ChaosServer

GOAL = "Write a Python function add(a, b) that returns the sum of a and b."
TEST = "assert add(1, 1) == 2\nassert add(-2, 5) == 3\nprint('add: tests passed')\n"
# The chaos backend streams scripted replies word by word and joins the words with single
# spaces (newlines are not kept), so the scripted answers are one-line programs without a
# fence; ``extract_code`` then takes the whole reply.
BROKEN_REPLY = "def add(a, b) return a + b"
FIXED_REPLY = "def add(a, b): return a + b"
CHECK_TIMEOUT = 10.0
"""Seconds a candidate and its test may run."""


def show(event: Event) -> None:
    """Print one escalation event, without its id, time and (opt-in) body."""
    fields = {
        k: v
        for k, v in ((f, getattr(event, f)) for f in event.__struct_fields__)
        if k not in ("escalation_id", "at", "body")
    }
    shown = " ".join(f"{k}={v!r}" for k, v in fields.items())
    print(f"  event {type(event).__name__}: {shown}")


async def run_candidate(code: str) -> CheckResult:
    """Run ``code`` and the test in an isolated subprocess (``-I``, temp dir, timeout)."""
    with tempfile.TemporaryDirectory(prefix="escalate-check-") as tmp:
        script = Path(tmp, "candidate.py")
        await asyncio.to_thread(script.write_text, f"{code}\n\n{TEST}", encoding="utf-8")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-I", str(script),
            cwd=tmp,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            out, err = await asyncio.wait_for(proc.communicate(), CHECK_TIMEOUT)
        except TimeoutError:
            proc.kill()
            out, err = await proc.communicate()
            return CheckResult(
                ok=False, error=f"timed out after {CHECK_TIMEOUT} s", stdout=out.decode()
            )
    stdout, stderr = out.decode(errors="replace"), err.decode(errors="replace")
    if proc.returncode == 0:
        return CheckResult(ok=True, stdout=stdout)
    return CheckResult(ok=False, error=stderr or f"exit status {proc.returncode}", stdout=stdout)


async def check(code: str) -> CheckResult:
    """The workflow's check: run the candidate and say what happened."""
    print(f"  running the candidate ({len(code)} chars) with its test...")
    result = await run_candidate(code)
    print("  -> passed" if result.ok else f"  -> FAILED:\n{_indent(result.error)}")
    return result


def _indent(text: str) -> str:
    return "\n".join(f"       {line}" for line in text.strip().splitlines())


def make_config(server: ChaosServer, log_path: Path) -> RuntimeConfig:
    """Two roles on one chaos backend: generator -> codellama, escalation -> qwen."""
    return RuntimeConfig(
        endpoints=(EndpointConfig(name="local", url=server.url),),
        models=(
            ModelConfig(name="codellama", deployments=("local",)),
            ModelConfig(name="qwen2.5-coder:14b", deployments=("local",)),
        ),
        roles={
            "generator": RoleConfig(models=("codellama",), kind="code"),
            "escalation": RoleConfig(models=("qwen2.5-coder:14b",), kind="code"),
        },
        event_log=EventLogConfig(path=str(log_path)),
        health=HealthConfig(check_interval_seconds=0),
    )


def report(result: EscalationResult) -> None:
    """Print the outcome and every attempt."""
    for outcome in result.attempts:
        who = "generator" if outcome.attempt == 0 else f"escalation attempt {outcome.attempt}"
        verdict = "ok" if outcome.ok else f"failed ({outcome.error_summary})"
        print(f"  {who}: {outcome.role} / {outcome.model}: {verdict}")
    if result.ok:
        print(f"RESULT: {result.reason}\n--- final code ---\n{result.code}")
    else:
        print(f"RESULT: escalation failed: {result.reason}")


async def main() -> int:
    """Start the backend and the runtime, escalate, report; exit status 0 on success."""
    # Only warnings from the runtime: the example prints its own account of each step.
    configure_logging(level="warning")
    async with ChaosServer(["codellama", "qwen2.5-coder:14b"], seed=1) as server:
        server.script("codellama", [BROKEN_REPLY])
        server.script("qwen2.5-coder:14b", [FIXED_REPLY])
        with tempfile.TemporaryDirectory(prefix="escalate-example-") as tmp:
            config = make_config(server, Path(tmp, "events.sqlite3"))
            async with Runtime.from_config(config, environ=os.environ) as rt:
                print(f"goal: {GOAL}")
                rt.on(EscalationEvent, show)  # each step, soon after it is recorded
                result = await rt.escalate(
                    goal=GOAL, check=check, tools=("python standard library",)
                )
                await asyncio.sleep(0)  # let the last callback run before closing
            report(result)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
