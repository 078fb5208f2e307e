"""Quick start: the Runtime over two local backends, one of which goes down and comes back.

Run it with ``python examples/quickstart.py [LOG_PATH]``. It

1. starts two chaos backends (fake Ollama servers on 127.0.0.1) serving ``llama3``;
2. opens a ``Runtime`` over them: round-robin across both, and a role ``generator``
   whose chain falls back to a smaller model;
3. sends traffic, takes backend ``b`` down mid-way and shows every request still
   answered (the failed attempts move to ``a``), ``b`` quarantined, then recovered once it
   is back and its quarantine has passed;
4. prints the health summary and how many events the log holds.

Everything runs locally; nothing else needs to be installed.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections import Counter
from pathlib import Path

from events import DeploymentQuarantined, DeploymentRecovered, Event, SqliteEventLog
from runtime import (
    EndpointConfig,
    EventLogConfig,
    HealthConfig,
    ModelConfig,
    RetryConfig,
    RoleConfig,
    Runtime,
    RuntimeConfig,
    Timeouts,
    configure_logging,
)
from runtime.testing import ChaosServer

QUICK = Timeouts(connect=1.0, first_byte=2.0, idle=2.0, total=5.0)


def make_config(a: ChaosServer, b: ChaosServer, log: Path) -> RuntimeConfig:
    """Two endpoints, two models, one role; quarantine short enough to watch."""
    return RuntimeConfig(
        endpoints=(
            EndpointConfig(name="a", url=a.url, timeouts=QUICK),
            EndpointConfig(name="b", url=b.url, timeouts=QUICK),
        ),
        models=(
            ModelConfig(name="llama3", deployments=("a", "b")),
            ModelConfig(name="llama3.2:3b", deployments=("a",)),
        ),
        roles={"generator": RoleConfig(models=("llama3", "llama3.2:3b"))},
        event_log=EventLogConfig(path=str(log)),
        health=HealthConfig(
            failure_threshold=2,
            quarantine_seconds=1.0,
            quarantine_max_seconds=4.0,
            check_interval_seconds=0.5,
        ),
        retry=RetryConfig(backoff_base=0.05, backoff_cap=0.2),
    )


async def traffic(rt: Runtime, label: str, requests: int) -> Counter[str]:
    """Send ``requests`` chats by role; count which endpoint answered each."""
    answered: Counter[str] = Counter()
    for i in range(requests):
        reply = await rt.chat([{"role": "user", "content": f"{label} {i}"}], role="generator")
        answered[f"{reply.model}@{reply.endpoint}"] += 1
    print(f"  {label}: {requests} requests, all answered: {dict(answered)}")
    return answered


_quarantined: set[str] = set()


def announce(event: Event) -> None:
    """Print quarantines and recoveries from them as they happen."""
    if isinstance(event, DeploymentQuarantined):
        _quarantined.add(event.deployment)
        print(f"  ! {event.deployment} quarantined ({event.reason})")
    elif isinstance(event, DeploymentRecovered) and event.deployment in _quarantined:
        # DeploymentRecovered also marks a first success (unknown -> healthy); only a
        # recovery from quarantine is news here.
        _quarantined.discard(event.deployment)
        print(f"  + {event.deployment} recovered")


async def main(log: Path) -> None:
    async with (
        ChaosServer(models=["llama3", "llama3.2:3b"], seed=1) as a,
        ChaosServer(models=["llama3", "llama3.2:3b"], seed=2) as b,
    ):
        print(f"backends: a={a.url} b={b.url}; log at {log}")
        async with Runtime.from_config(make_config(a, b, log)) as rt:
            rt.on(DeploymentQuarantined, announce)
            rt.on(DeploymentRecovered, announce)
            await traffic(rt, "round-robin", 6)
            print("backend b goes down")
            await b.stop_listening()
            await traffic(rt, "b is down", 6)
            print(rt.health())
            print("backend b comes back")
            await b.resume_listening()
            await asyncio.sleep(2.0)  # the quarantine passes; a health check probes b
            await traffic(rt, "b is back", 6)
            print(rt.health())
    async with await SqliteEventLog.open_readonly(log) as events:
        print(f"{await events.last_position()} events in {log}")


if __name__ == "__main__":
    # The example narrates for itself; warnings about the failed attempts would repeat it.
    configure_logging(level="error")
    if len(sys.argv) > 1:
        target = Path(sys.argv[1])
    else:
        target = Path(tempfile.mkdtemp(prefix="quickstart-")) / "events.sqlite3"
    asyncio.run(main(target))
