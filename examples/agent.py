"""An agent's traffic through the runtime: a tool loop, a structured answer, embeddings.

Run it with ``python examples/agent.py [LOG_PATH]``. It

1. starts a chaos backend (a fake Ollama server on 127.0.0.1) scripted to act like a
   tool-using model: offered tools and no tool result yet, it asks to call
   ``get_weather``; given the result, it answers in words;
2. runs the usual agent loop over ``rt.chat``: send the conversation and the tools,
   run every tool call the model asks for, append the results as ``tool`` messages,
   ask again until the model answers in text;
3. asks for a JSON answer that follows a schema (``response_format``) and checks it;
4. embeds two texts with ``rt.embed``;
5. prints what the backend received, to show each parameter arriving in Ollama's own
   wire format (``tools``, ``format``, ``options.num_ctx``...).

Everything runs locally; nothing else needs to be installed. The same calls work
against a real Ollama, llama.cpp, vLLM or LM Studio: change the endpoint's ``url`` and
``api`` (``ollama`` or ``openai``).
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from runtime import (
    EndpointConfig,
    EventLogConfig,
    HealthConfig,
    ModelConfig,
    RoleConfig,
    Runtime,
    RuntimeConfig,
)
from runtime.testing import ChaosServer

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The current weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]
PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}


def get_weather(city: str) -> str:
    """The tool the model may call (a real agent would ask a weather service)."""
    return f"light rain, 14 C in {city}"


def make_config(backend: ChaosServer, log: Path) -> RuntimeConfig:
    """One Ollama endpoint, one model with a default context size, one role."""
    return RuntimeConfig(
        endpoints=(EndpointConfig(name="local", url=backend.url, api="ollama"),),
        models=(ModelConfig(name="qwen2.5:7b", deployments=("local",), options={"num_ctx": 8192}),),
        roles={"agent": RoleConfig(models=("qwen2.5:7b",))},
        event_log=EventLogConfig(path=str(log)),
        health=HealthConfig(check_interval_seconds=0),
    )


async def tool_loop(rt: Runtime, question: str) -> str:
    """Ask until the model answers in text, running the tools it calls on the way."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": question}]
    while True:
        reply = await rt.chat(messages, role="agent", tools=TOOLS, temperature=0.0)
        if not reply.tool_calls:
            print(f"  answer: {reply.content}  (request {reply.request_id})")
            return reply.content
        messages.append(reply.message())
        for call in reply.tool_calls:
            result = get_weather(**call.parsed_arguments())
            print(f"  the model called {call.name}({call.arguments}) -> {result!r}")
            messages.append(
                {"role": "tool", "tool_call_id": call.id, "name": call.name, "content": result}
            )


async def main(log: Path) -> None:
    async with ChaosServer(["qwen2.5:7b"], seed=7) as backend:
        backend.script_tool_round_trip(
            "qwen2.5:7b", "get_weather", {"city": "Bergen"}, "In Bergen it is {result}."
        )
        async with Runtime(make_config(backend, log)) as rt:
            print("1. a tool loop")
            await tool_loop(rt, "What is the weather in Bergen?")

            print("2. a structured answer")
            schema = {"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON}}
            reply = await rt.chat(
                [{"role": "user", "content": "Invent a person."}],
                role="agent",
                response_format=schema,
                seed=42,
            )
            person = json.loads(reply.content)
            assert isinstance(person["name"], str) and isinstance(person["age"], int)
            print(f"  parsed: {person}")

            print("3. embeddings")
            embedded = await rt.embed(["rain in Bergen", "sun in Seville"], model="qwen2.5:7b")
            sizes = [len(v) for v in embedded.vectors]
            print(f"  {len(embedded.vectors)} vectors of {sizes[0]} dimensions")

        print("4. what the backend received (Ollama's wire format)")
        for body in backend.received(route="/api/chat"):
            shown = {k: body[k] for k in ("tools", "format", "options") if k in body}
            if "tools" in shown:
                shown["tools"] = [t["function"]["name"] for t in shown["tools"]]
            print(f"  {json.dumps(shown, sort_keys=True)}")
    print(f"event log: {log}  (python -m runtime.inspect {log} tail)")


if __name__ == "__main__":
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()) / "agent.sqlite3"
    asyncio.run(main(path))
