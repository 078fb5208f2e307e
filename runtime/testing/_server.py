"""`ChaosServer`: a fault-injecting fake Ollama / OpenAI server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, Final

import msgspec

from runtime.testing import _wire
from runtime.testing._faults import Fault, FaultSpecError, decode_fault
from runtime.testing._http import serve_connection
from runtime.testing._reply import Reply, json_reply
from runtime.testing._routes import Backend, ChaosStats, HttpRequest
from runtime.testing._script import Scripted, ScriptedReply, decode_reply, round_trip

HOST: Final = "127.0.0.1"
"""The only address the chaos server ever binds."""
ADMIN_PREFIX: Final = "/_chaos/"


class ChaosServer:
    """A real HTTP/1.1 server that imitates Ollama and OpenAI-compatible backends.

    Example::

        async with ChaosServer(models=["llama3", "qwen"], seed=1) as srv:
            srv.set_fault(Fault(kind="http_error", status=503, count=1), model="llama3")
            ...  # talk to srv.url with any HTTP client
            assert srv.requests_for(model="llama3", route="/api/chat") == 2
    """

    def __init__(
        self,
        models: Iterable[str] = ("llama3",),
        *,
        seed: int = 0,
        port: int = 0,
        faults: Iterable[Fault] = (),
        scripts: Mapping[str, Iterable[Scripted]] | None = None,
        clock: Callable[[], float] = time.time,
        echo_key: bool = False,
    ) -> None:
        """Configure the server; nothing is bound until `start` (or ``async with``).

        Args:
            models: Names of the models served (``x`` also answers to ``x:latest``).
            seed: Seeds generated text and fault probabilities.
            port: TCP port on 127.0.0.1; 0 picks a free one.
            faults: Global faults installed from the start.
            scripts: Replies per model (texts or `ScriptedReply`), returned in order
                before anything else (see `script`).
            clock: Wall clock for timestamps in bodies (Unix seconds).
            echo_key: Quote the request's ``Authorization`` credential in every injected
                fault's error text (as OpenAI-compatible servers do with a wrong key).

        Raises:
            ValueError: No models, an empty model name, or a port outside 0-65535.
        """
        names = list(models)
        if not names or any(not isinstance(m, str) or not m.strip() for m in names):
            raise ValueError(f"models must be a non-empty list of model names, got {names!r}")
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be within 0-65535, got {port!r}")
        self._backend = Backend(names, seed, clock)
        self._backend.faults.set(list(faults), model=None, append=False)
        self._backend.echo_key = echo_key
        for model, replies in (scripts or {}).items():
            self._backend.script(model, replies)
        self._port = port
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[Any], asyncio.StreamWriter] = {}

    # --- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        """Bind 127.0.0.1 and start accepting connections.

        Raises:
            OSError: The port is in use (or otherwise cannot be bound).
        """
        if self._server is not None:
            return
        self._server = await asyncio.start_server(self._on_connection, HOST, self._port)
        # Remember the ephemeral port so resume_listening binds the same one again.
        self._port = self._server.sockets[0].getsockname()[1]

    async def aclose(self) -> None:
        """Stop listening and close every connection; safe to call twice."""
        await self.stop_listening()

    async def stop_listening(self) -> None:
        """Go down: close the listening socket and reset every open connection."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for task, writer in list(self._connections.items()):
            writer.transport.abort()
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        if server is not None:
            await server.wait_closed()

    async def resume_listening(self) -> None:
        """Come back up on the same port after `stop_listening`."""
        await self.start()

    async def __aenter__(self) -> ChaosServer:
        """Start the server."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server and close all connections."""
        await self.aclose()

    @property
    def listening(self) -> bool:
        """Whether the server currently accepts connections."""
        return self._server is not None

    @property
    def port(self) -> int:
        """The TCP port (the real one once started with port 0)."""
        return self._port

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:11434``."""
        return f"http://{HOST}:{self._port}"

    @property
    def models(self) -> list[str]:
        """The served model names."""
        return list(self._backend.models)

    # --- faults, scripts, statistics -------------------------------------------------

    def set_fault(self, fault: Fault, *, model: str | None = None) -> None:
        """Replace the faults of one scope (a model, or global when None) with `fault`."""
        self.set_faults([fault], model=model)

    def add_fault(self, fault: Fault, *, model: str | None = None) -> None:
        """Add `fault` after the faults already installed in its scope."""
        self._backend.faults.set([fault], model=self._scope(model), append=True)

    def set_faults(self, faults: Iterable[Fault], *, model: str | None = None) -> None:
        """Replace the faults of one scope; an empty list clears that scope."""
        checked = list(faults)
        for fault in checked:
            if not isinstance(fault, Fault):
                raise FaultSpecError(f"expected a Fault, got {fault!r}")
        self._backend.faults.set(checked, model=self._scope(model), append=False)

    def clear_faults(self, *, model: str | None = None) -> None:
        """Remove every fault, or only those of `model`."""
        self._backend.faults.clear(self._scope(model))

    def faults(self) -> dict[str, list[Fault]]:
        """Installed faults by scope; ``"*"`` is the global scope."""
        return self._backend.faults.installed()

    def script(self, model: str, replies: Iterable[Scripted]) -> None:
        """Queue replies for `model`, answered in order before anything else.

        A reply is a text (e.g. first answer broken, second fixed) or a
        `ScriptedReply`, which may make tool calls::

            srv.script("llama3", [ScriptedReply(tool_calls=[("get_weather", {"city":
            "Paris"})]), "It is sunny in Paris."])

        Queued replies win over `script_tool_round_trip` rules and JSON output; the
        queue is shared by every route of the model.

        Raises:
            ValueError: A reply is neither a string nor a valid `ScriptedReply`.
        """
        self._backend.script(model, replies)

    def script_tool_round_trip(
        self,
        model: str,
        name: str,
        arguments: Mapping[str, Any],
        final_text: str = "The tool returned: {result}",
    ) -> None:
        """Make `model` play a whole tool round trip, whatever the order of requests.

        On chat routes, while no reply is queued by `script`: a request whose current
        turn (the messages after the last ``user`` message) has no ``tool`` message
        yet and that offers ``tools`` is answered with the call ``name(arguments)``;
        a request whose current turn holds a ``tool`` message is answered with
        `final_text`, ``{result}`` replaced by that message's content. Other requests
        are answered as usual. The rule stays until `reset` or `clear_tool_round_trip`.

        Raises:
            ValueError: An empty `name`, or `arguments` that are not a JSON object.
        """
        self._backend.script_round_trip(model, round_trip(name, arguments, final_text))

    def clear_tool_round_trip(self, model: str) -> None:
        """Remove the `script_tool_round_trip` rule of `model`."""
        self._backend.script_round_trip(model, None)

    def received(self, route: str | None = None, model: str | None = None) -> list[dict[str, Any]]:
        """The decoded JSON bodies of the API requests received, oldest first.

        Only the last 1,000 bodies are kept (`reset` forgets them); requests whose
        body was not JSON are absent. Filter by `route` (e.g. ``"/api/chat"``,
        ``"/v1/embeddings"``) and/or `model` (``x`` also matches ``x:latest``).
        Each call returns fresh copies.
        """
        return self._backend.received(route=route, model=model)

    def stats(self) -> ChaosStats:
        """A frozen snapshot of requests received and faults injected."""
        return self._backend.stats()

    def requests_for(self, *, model: str | None = None, route: str | None = None) -> int:
        """How many requests named `model` and/or hit `route` (e.g. ``"/api/chat"``)."""
        return self._backend.requests_for(model=model, route=route)

    def reset(self) -> None:
        """Clear faults, scripts, round-trip rules, received bodies and counters."""
        self._backend.reset()

    def _scope(self, model: str | None) -> str | None:
        """The key faults of `model` are stored under (its served name when known)."""
        if model is None:
            return None
        return self._backend.resolve(model) or model

    # --- connections -----------------------------------------------------------------

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Serve one client connection, tracked so `stop_listening` can cut it."""
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = writer
        self._backend.connections += 1
        try:
            await serve_connection(reader, writer, self._handle)
        except asyncio.CancelledError:
            # This task is owned by asyncio's server, and nothing awaits it for its
            # outcome: stop_listening cancels it on purpose, and a loop shutting down
            # (asyncio.run after Ctrl-C) cancels every task left. Re-raising would make
            # Python 3.11's stream callback print the cancellation as a traceback; the
            # connection is cut either way.
            writer.transport.abort()
        finally:
            self._connections.pop(task, None)

    async def _handle(self, request: HttpRequest) -> Reply:
        """Route to the admin API or the fake backend."""
        if request.path.startswith(ADMIN_PREFIX):
            return self._admin(request)
        return self._backend.handle(request)

    def _admin(self, request: HttpRequest) -> Reply:
        """The ``/_chaos/`` control API (never counted, never faulted)."""
        action = (request.method, request.path[len(ADMIN_PREFIX) :])
        try:
            result = self._admin_action(action, request.body)
        except FaultSpecError as exc:
            return json_reply(400, _wire.encode({"error": str(exc)}))
        if result is None:
            return json_reply(
                404, _wire.encode({"error": f"no admin route {action[0]} {request.path}"})
            )
        return json_reply(200, _wire.encode(result))

    def _admin_action(self, action: tuple[str, str], raw: bytes) -> object | None:
        """Perform one admin action; None when there is no such action."""
        match action:
            case ("GET", "stats"):
                return self.stats()
            case ("GET", "faults"):
                return self.faults()
            case ("POST", "faults"):
                faults, model, append = _decode_fault_request(raw)
                scope = self._scope(model)
                self._backend.faults.set(faults, model=scope, append=append)
                return self.faults()
            case ("DELETE", "faults"):
                self.clear_faults()
                return self.faults()
            case ("POST", "script"):
                model, replies = _decode_script_request(raw)
                self.script(model, replies)
                return {"model": model, "queued": len(replies)}
            case ("GET", "received"):
                return self.received()
            case ("POST", "received"):
                route, model = _decode_received_request(raw)
                return self.received(route, model)
            case ("POST", "reset"):
                self.reset()
                return {"reset": True}
        return None


def _json_object(raw: bytes) -> dict[str, Any]:
    """Decode an admin request body that must be a JSON object."""
    try:
        body = msgspec.json.decode(raw or b"{}")
    except msgspec.DecodeError as exc:
        raise FaultSpecError(f"invalid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise FaultSpecError("the body must be a JSON object")
    return body


def _decode_fault_request(raw: bytes) -> tuple[list[Fault], str | None, bool]:
    """``{"fault": {...}}`` or ``{"faults": [...]}``, with optional model and append."""
    body = _json_object(raw)
    specs = body.get("faults", [body["fault"]] if "fault" in body else None)
    if not isinstance(specs, list):
        raise FaultSpecError('expected {"fault": {...}} or {"faults": [...]}')
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise FaultSpecError(f"model must be a string or null, got {model!r}")
    faults = []
    for index, spec in enumerate(specs):
        try:
            faults.append(decode_fault(spec))
        except FaultSpecError as exc:
            raise FaultSpecError(f"faults[{index}]: {exc}") from exc
    return faults, model, bool(body.get("append", False))


def _decode_received_request(raw: bytes) -> tuple[str | None, str | None]:
    """``{"route"?: "/api/chat", "model"?: "x"}``: the filters of `ChaosServer.received`."""
    body = _json_object(raw)
    route, model = body.get("route"), body.get("model")
    if not all(v is None or isinstance(v, str) for v in (route, model)):
        raise FaultSpecError('expected {"route": "/path" | null, "model": "name" | null}')
    return route, model


def _decode_script_request(raw: bytes) -> tuple[str, list[ScriptedReply]]:
    """``{"model": "x", "replies": ["text", {"text", "tool_calls": [{"name",
    "arguments"}]}, ...]}``."""
    body = _json_object(raw)
    model, replies = body.get("model"), body.get("replies")
    if not isinstance(model, str) or not isinstance(replies, list):
        raise FaultSpecError('expected {"model": "name", "replies": ["text", ...]}')
    decoded = []
    for index, reply in enumerate(replies):
        try:
            decoded.append(decode_reply(reply))
        except ValueError as exc:
            raise FaultSpecError(f"replies[{index}]: {exc}") from exc
    return model, decoded
