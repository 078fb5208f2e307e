"""A victim for the acknowledgement crash test: answers chats until it is killed.

Run: ``python -m tests.runtime._ack_writer LOG MODE`` (``MODE``: ``after_commit`` or
``background``). A ``Runtime`` with a ``durability: full`` log at ``LOG`` serves chats
through an in-process transport, eight at a time, forever; each answered chat prints
``<request id> <monotonic seconds>`` on stdout — the moment the caller was told "done".
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import httpx

from runtime import EndpointConfig, EventLogConfig, ModelConfig, Runtime, RuntimeConfig

_TAGS = json.dumps({"models": [{"name": "m", "model": "m"}]}).encode()
_CHAT = json.dumps(
    {"model": "m", "message": {"role": "assistant", "content": "ok"}, "done": True}
).encode()


def _answer(request: httpx.Request) -> httpx.Response:
    body = _TAGS if request.url.path == "/api/tags" else _CHAT
    return httpx.Response(200, content=body, headers={"content-type": "application/json"})


async def main(path: str, mode: str) -> None:
    transport = httpx.MockTransport(_answer)
    config = RuntimeConfig(
        endpoints=(EndpointConfig(name="a", url="http://127.0.0.1:9", max_concurrency=64),),
        models=(ModelConfig(name="m", deployments=("a",)),),
        event_log=EventLogConfig(path=path, durability="full", acknowledge=mode),  # type: ignore[arg-type]
    )
    async with Runtime(config, transport=lambda name: transport) as rt:

        async def worker() -> None:
            while True:
                reply = await rt.chat([{"role": "user", "content": "hi"}], model="m")
                sys.stdout.write(f"{reply.request_id} {time.monotonic()}\n")
                sys.stdout.flush()

        await asyncio.gather(*(worker() for _ in range(8)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
