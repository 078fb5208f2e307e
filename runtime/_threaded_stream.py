"""``ThreadedStream``: a synchronous iterator over a stream running on the loop thread.

Chunks cross threads through a queue bounded by credits: the loop-side pump takes a
credit (an ``asyncio.Semaphore``, so waiting for one never blocks the loop) before it
queues a chunk, and the consumer gives the credit back when it takes the chunk. A slow
reader therefore holds back the stream, never the loop, and at most ``buffer`` chunks
wait in memory.

The pump's task ends in every case (finished, failed, cancelled by ``close()`` or by
``stop()``), and its end is always announced by an end marker queued after the last
chunk, so the reader never waits for a chunk that will not come; the outcome itself
(the exception, with its original type) comes from the call's future.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import time
from collections.abc import AsyncGenerator, Callable, Iterator
from types import TracebackType
from typing import Final

from actors.router import StreamChunk
from runtime._threaded_loop import LoopThread

__all__ = ["ThreadedStream"]

_END: Final = object()
"""Queued after the last chunk, whatever ended the pump."""


async def _pump(
    chunks: AsyncGenerator[StreamChunk, None],
    out: queue.SimpleQueue[object],
    credits: asyncio.Semaphore,
) -> None:
    """Move chunks from the async stream into ``out`` as credits allow (loop thread)."""
    async with contextlib.aclosing(chunks):
        async for chunk in chunks:
            await credits.acquire()
            out.put(chunk)


class ThreadedStream(Iterator[StreamChunk]):
    """Chunks of one streamed reply, for a synchronous caller.

    Iterate it (``for chunk in stream``); it raises the stream's error with its
    original type (``StreamBroken``, ``ModelNotFoundError``...). Leaving early:
    ``close()`` it, or use it as a context manager, so the upstream request is cancelled
    at once; a stream garbage-collected unfinished is cancelled too, without waiting.
    """

    def __init__(
        self,
        owner: LoopThread,
        open_stream: Callable[[], AsyncGenerator[StreamChunk, None]],
        *,
        buffer: int,
        keep_alive: object = None,
    ) -> None:
        """Start the stream on ``owner``'s loop (``open_stream`` is called there).

        Args:
            owner: The loop thread to run on.
            open_stream: Opens the async stream (e.g. ``lambda: rt.stream(...)``).
            buffer: Most chunks waiting between the threads (at least 1).
            keep_alive: An object to keep referenced while the stream lives (the
                facade, so it is not finalized under an open stream).

        Raises:
            ValueError: ``buffer`` is below 1.
            RuntimeNotRunning: The runtime is stopping or stopped.
        """
        if buffer < 1:
            raise ValueError(f"buffer must be at least 1 chunk, got {buffer!r}")
        self._owner = owner
        self._keep_alive = keep_alive
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._credits = asyncio.Semaphore(buffer)
        self._ended = False  # the end marker was taken from the queue
        self._closed = False
        out, credits = self._queue, self._credits  # the loop side never references self
        self._future = owner.submit(
            lambda: _pump(open_stream(), out, credits), done=lambda: out.put(_END)
        )

    def __iter__(self) -> ThreadedStream:
        return self

    def __next__(self) -> StreamChunk:
        """The next chunk; blocks until it arrives.

        Raises:
            StopIteration: The stream ended normally, or was closed.
            WouldDeadlock: Called on the runtime's loop thread.
            Exception: The stream's error, with its original type.
        """
        if self._ended or self._closed:
            raise StopIteration
        self._owner.check_not_loop_thread("iterating a ThreadedStream")
        item = self._queue.get()
        if item is _END:
            self._ended = True
            self._future.get()  # raises the stream's error, if any
            raise StopIteration
        assert isinstance(item, StreamChunk)
        self._owner.post(self._credits.release)
        return item

    def close(self, timeout: float | None = 10.0) -> None:
        """Cancel the stream if it is still running and wait until it has ended.

        When this returns, the upstream request is closed and its cancellation
        recorded. Idempotent.

        Raises:
            WouldDeadlock: Called on the runtime's loop thread.
            TimeoutError: The stream did not end within ``timeout`` seconds.
        """
        if self._ended:
            self._closed = True
            return
        self._owner.check_not_loop_thread("ThreadedStream.close()")
        self._closed = True
        self._owner.cancel(self._future)
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._ended:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                item = self._queue.get(timeout=remaining)
            except queue.Empty:
                raise TimeoutError(
                    f"the stream did not end within {timeout} s of being closed"
                ) from None
            self._ended = item is _END

    @property
    def closed(self) -> bool:
        """Whether the stream has ended (read to the end, failed, or closed)."""
        return self._ended or self._closed

    def __enter__(self) -> ThreadedStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        # Garbage collection may run on any thread, the loop thread included: cancel
        # without waiting. ``post`` is a no-op once the loop has ended.
        future = getattr(self, "_future", None)  # absent if __init__ raised
        if future is not None and not self._ended and not self._closed:
            self._owner.cancel(future)
