"""A tour of the foundation: a supervised actor calling a flaky backend, every fact in the log.

Run it with ``python examples/eventlog_tour.py [LOG_PATH]``. It

1. starts a chaos backend (a fake Ollama server on 127.0.0.1) that fails every 4th chat;
2. spawns a supervised actor that asks it for completions; a failure reaches the caller
   and restarts the actor with backoff — both facts land in the SQLite event log;
3. records one event per reply, then replays the log into a summary, takes a snapshot,
   reopens the log and rebuilds the same summary from snapshot + tail.

Everything runs locally; nothing else needs to be installed.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

import httpx
import msgspec

from actors import Actor, ActorSystem, SupervisionPolicy
from events import (
    ActorFailed,
    ActorRestarted,
    Event,
    Projection,
    Projector,
    SqliteEventLog,
    UnknownEvent,
    default_registry,
)
from runtime.testing import ChaosServer, Fault


@default_registry.register
class ReplyReceived(Event, frozen=True, kw_only=True, tag="example.ReplyReceived"):
    """The example's own fact: a completion came back."""

    model: str
    chars: int
    completion_tokens: int


class Ask(msgspec.Struct, frozen=True):
    """A message for the chat actor: one prompt."""

    prompt: str


class Reply(msgspec.Struct, frozen=True):
    """The chat actor's answer."""

    text: str
    completion_tokens: int


class ChatActor(Actor[Ask]):
    """Calls the backend's /api/chat; an HTTP error is a failure the supervisor handles."""

    def __init__(self, url: str, model: str) -> None:
        self._url = url
        self._model = model
        self._client: httpx.AsyncClient | None = None

    async def on_start(self) -> None:
        self._client = httpx.AsyncClient(base_url=self._url, trust_env=False)

    async def on_stop(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def on_failure(self, exc: Exception) -> None:
        await self.on_stop()

    async def receive(self, message: Ask) -> Reply:
        assert self._client is not None
        body = {
            "model": self._model,
            "stream": False,
            "messages": [{"role": "user", "content": message.prompt}],
        }
        response = await self._client.post("/api/chat", json=body)
        response.raise_for_status()
        data = response.json()
        return Reply(text=data["message"]["content"], completion_tokens=data["eval_count"])


class Summary(msgspec.Struct, frozen=True):
    """What the log says happened."""

    replies: int = 0
    tokens: int = 0
    failures: int = 0
    restarts: int = 0


def evolve(state: Summary, event: Event | UnknownEvent) -> Summary:
    """The summary's pure fold: one step per event; anything else leaves it unchanged."""
    match event:
        case ReplyReceived(completion_tokens=tokens):
            return msgspec.structs.replace(
                state, replies=state.replies + 1, tokens=state.tokens + tokens
            )
        case ActorFailed():
            return msgspec.structs.replace(state, failures=state.failures + 1)
        case ActorRestarted():
            return msgspec.structs.replace(state, restarts=state.restarts + 1)
    return state


SUMMARY = Projection(name="example.summary", initial=Summary(), evolve=evolve, state_type=Summary)


async def send_traffic(log: SqliteEventLog, url: str, requests: int) -> None:
    """Ask the supervised actor ``requests`` times, recording each reply as an event."""
    policy = SupervisionPolicy(
        max_restarts=requests, window=60.0, backoff_base=0.05, backoff_cap=0.2
    )
    async with ActorSystem(log=log) as system:
        chat = system.spawn(lambda: ChatActor(url, "llama3"), name="chat", supervision=policy)
        for i in range(1, requests + 1):
            try:
                reply = await chat.ask(Ask(prompt=f"question {i}"), timeout=10.0)
            except httpx.HTTPStatusError as exc:
                print(
                    f"  request {i:2}/{requests}: backend said {exc.response.status_code};"
                    " the actor restarts"
                )
                continue
            event = ReplyReceived(
                model="llama3", chars=len(reply.text), completion_tokens=reply.completion_tokens
            )
            await log.append("example/replies", [event])
            print(
                f"  request {i:2}/{requests}: {reply.completion_tokens} tokens: "
                f"{reply.text[:40]!r}..."
            )
        stats = chat.statistics()
        print(
            f"actor 'chat': processed={stats.processed} failures={stats.failures} "
            f"restarts={stats.restarts}"
        )


async def main(path: Path) -> None:
    every_4th_fails = Fault(kind="http_error", status=503, every_nth=4)
    async with ChaosServer(models=["llama3"], seed=7, faults=[every_4th_fails]) as backend:
        print(f"chaos backend on {backend.url}; log at {path}")
        async with await SqliteEventLog.open(path) as log:
            await send_traffic(log, backend.url, requests=12)
            projector = await Projector.start(log, SUMMARY, snapshot_every=10)
            print(f"replayed from the log: {projector.state}")
            await projector.snapshot_now()
            position = projector.position
    async with await SqliteEventLog.open(path) as log:
        restarted = await Projector.start(log, SUMMARY)
        print(f"reopened: snapshot at {position} + tail -> {restarted.state}")
        assert restarted.state == projector.state
        print(f"{await log.last_position()} events in {path}")


if __name__ == "__main__":
    # The tour narrates for itself; the runtime prints nothing unless logging is set up.
    if len(sys.argv) > 1:
        target = Path(sys.argv[1])
    else:
        target = Path(tempfile.mkdtemp(prefix="tour-")) / "events.sqlite3"
    asyncio.run(main(target))
