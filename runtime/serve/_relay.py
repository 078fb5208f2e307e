"""Calling the Runtime for one HTTP request (chat, stream, embed): deadline, client
disconnects, errors.

A request runs under ``request_timeout`` and is cancelled as soon as the client goes
away (the runtime then records ``RequestCancelled`` and frees its slots). A stream's
first chunk is awaited *before* the response starts, so every failure before any text
(no candidate, all failed, quota, unknown model) still gets its own HTTP status; after
that, failures become an error event that ends the stream (``OpenStream.chunks``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, Coroutine, Iterator
from typing import Any, TypeVar

from starlette.types import Receive

from actors.router import Embeddings, Reply, StreamChunk
from events import get_logger
from runtime._errors import LLMRuntimeError, StreamBroken
from runtime._runtime import Runtime
from runtime.serve._embeddings import EmbedCall
from runtime.serve._errors import ClientGone, HttpError, from_runtime_error
from runtime.serve._limits import ChatCall
from runtime.serve._settings import ServeSettings
from runtime.serve._views import Target, resolve_target

__all__ = ["OpenStream", "Relay"]

log = get_logger(__name__)

_T = TypeVar("_T")


class Relay:
    """Runs chat calls against one Runtime under one ``ServeSettings``."""

    def __init__(self, rt: Runtime, settings: ServeSettings) -> None:
        self._rt = rt
        self._settings = settings

    def _target(self, name: str, *, defer: bool = False) -> Target:
        return resolve_target(self._rt.list_models(), name, defer=defer)

    def _arguments(self, call: ChatCall) -> dict[str, Any]:
        target = self._target(call.target, defer=True)
        return {"role": target.role, "model": target.model, "kind": call.kind, **call.params}

    def check_target(self, call: ChatCall) -> None:
        """Raise the 404 for an unknown ``model`` without calling the runtime."""
        self._target(call.target)

    def _deadline(self) -> float:
        return asyncio.get_running_loop().time() + self._settings.request_timeout

    async def chat(self, call: ChatCall, receive: Receive) -> Reply:
        """The complete reply.

        Raises:
            HttpError: The request was refused or failed (status per ``_errors``).
            ClientGone: The client disconnected; the runtime call was cancelled.
        """
        kwargs = self._arguments(call)
        with self._naming_roles(call.target):
            work = self._rt.chat(call.messages, **kwargs)
            return await _guarded(receive, work, self._deadline())

    async def embed(self, call: EmbedCall, receive: Receive) -> Embeddings:
        """The vectors of ``call``'s inputs; errors as for ``chat``."""
        target = self._target(call.target, defer=True)
        work = self._rt.embed(
            call.inputs,
            role=target.role,
            model=target.model,
            kind=call.kind,
            dimensions=call.dimensions,
            options=call.options or None,
        )
        with self._naming_roles(call.target):
            return await _guarded(receive, work, self._deadline())

    @contextlib.contextmanager
    def _naming_roles(self, name: str) -> Iterator[None]:
        """A 404 for a name the runtime looked up (the endpoints' lists, refreshed)
        also lists the roles, which a request's ``model`` may name too."""
        try:
            yield
        except HttpError as exc:
            if exc.code != "model_not_found":
                raise
            listing = self._rt.list_models()
            roles = ", ".join(m.name for m in listing if m.type == "role") or "none"
            raise HttpError(
                404,
                f"model {name!r} not found; roles: {roles}; {exc.message}",
                code="model_not_found",
                param="model",
            ) from None

    async def open_stream(self, call: ChatCall, receive: Receive) -> OpenStream:
        """Start a stream and wait for its first chunk (see the module docstring).

        Raises:
            HttpError, ClientGone: As for ``chat``, before any text.
        """
        kwargs = self._arguments(call)
        deadline = self._deadline()
        chunks = self._rt.stream(call.messages, **kwargs)
        try:
            with self._naming_roles(call.target):
                first = await _guarded(receive, _first(chunks), deadline)
        except BaseException:
            await chunks.aclose()
            raise
        return OpenStream(first, chunks, deadline)


class OpenStream:
    """A stream whose first chunk has arrived; ``chunks()`` yields it and the rest."""

    def __init__(
        self, first: StreamChunk, rest: AsyncGenerator[StreamChunk, None], deadline: float
    ) -> None:
        self.first = first
        self._rest = rest
        self._deadline = deadline
        self.started = time.monotonic()

    async def chunks(self) -> AsyncGenerator[StreamChunk, None]:
        """Every chunk, the first included, ending with the ``done`` one.

        Raises:
            HttpError: The stream broke (``StreamBroken``), the request timed out,
                or something unexpected failed (logged): the caller ends the stream
                with an error event, never with a normal end.
        """
        try:
            chunk = self.first
            yield chunk
            while not chunk.done:
                async with asyncio.timeout_at(self._deadline):
                    chunk = await anext(self._rest)
                yield chunk
        except StreamBroken as exc:
            raise HttpError(502, str(exc), code=exc.failure, request_id=exc.request_id) from None
        except TimeoutError:
            raise _timeout(self.first.request_id) from None
        except StopAsyncIteration:
            raise HttpError(
                502,
                "the stream ended without its final chunk; retry the request",
                code="stream_incomplete",
                request_id=self.first.request_id,
            ) from None
        except LLMRuntimeError as exc:  # e.g. the runtime closed under a stream
            mapped = from_runtime_error(exc, now=time.time())
            raise mapped or _unexpected(exc, self.first.request_id) from None
        except Exception as exc:  # headers are sent: the client can only get an error event
            raise _unexpected(exc, self.first.request_id) from exc
        finally:
            await self._rest.aclose()


async def _first(chunks: AsyncGenerator[StreamChunk, None]) -> StreamChunk:
    try:
        return await anext(chunks)
    except StopAsyncIteration:
        raise HttpError(
            502, "the stream ended before any chunk; retry the request", code="stream_incomplete"
        ) from None


async def _guarded(receive: Receive, work: Coroutine[Any, Any, _T], deadline: float) -> _T:
    """Run ``work`` until it ends, the deadline passes (504) or the client leaves."""
    task = asyncio.create_task(work)
    gone = asyncio.create_task(_until_disconnect(receive))
    try:
        async with asyncio.timeout_at(deadline):
            await asyncio.wait((task, gone), return_when=asyncio.FIRST_COMPLETED)
    except TimeoutError:
        pass  # decided below, once both tasks have ended
    finally:
        gone.cancel()
        task.cancel()
        await asyncio.wait((task, gone))
    if not task.cancelled():
        return _result(task)
    if not gone.cancelled():
        raise ClientGone()
    raise _timeout(None)


def _result(task: asyncio.Task[_T]) -> _T:
    exc = task.exception()
    if exc is None:
        return task.result()
    if isinstance(exc, HttpError):
        raise exc
    if isinstance(exc, LLMRuntimeError):
        mapped = from_runtime_error(exc, now=time.time())
        if mapped is not None:
            raise mapped from None
    raise exc


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _timeout(request_id: str | None) -> HttpError:
    return HttpError(
        504,
        "the request took longer than this server's request_timeout; "
        "retry, or ask for fewer tokens",
        code="request_timeout",
        request_id=request_id,
    )


def _unexpected(exc: Exception, request_id: str) -> HttpError:
    log.error("serve.stream.failed", request_id=request_id, error=repr(exc), exc_info=exc)
    return HttpError(
        500,
        "the stream failed on the server; see its log",
        code="internal_error",
        request_id=request_id,
    )
