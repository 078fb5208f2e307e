"""Fixtures for tests against a real llama.cpp server (xllamacpp) on 127.0.0.1.

- ``tiny_model_path`` (session): a random-weight GGUF written once per session.
- ``llama_server`` (function, backed by one session-wide server): a running
  ``LlamaServer`` shared by tests that only send requests. If an earlier test left it
  dead it is restarted (same port) first. Do not kill or stop it in a test.
- ``fresh_llama_server`` (function): a server of the test's own, for kill/restart tests;
  stopped and reaped at teardown whatever happens.
- ``embedding_llama_server`` (function, backed by one server per test module): like
  ``llama_server`` but started with ``embedding=True, pooling="mean"``, so
  ``POST /v1/embeddings`` works (64-dim, L2-normalised vectors); chat works on it too.
  The plain ``llama_server`` answers ``/v1/embeddings`` with 501. Module scope (about
  0.1 s per start) so modules that count their servers only see their own.
- ``llama_server_factory`` (function): ``factory(**LlamaServer kwargs) -> LlamaServer``
  for custom settings (ctx, parallel, n_predict ...); returned servers are started, and
  all of them are stopped at teardown.

At session end a finalizer checks that no ``_launch`` child of this pytest process is
left; any that is gets killed and the session reports an error.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.real_backend.server import LlamaServer, LlamaServerFactory, launcher_children
from tests.real_backend.tiny_gguf import write_tiny_gguf


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_gguf(tmp_path_factory.mktemp("tiny-model") / "tiny.gguf")


@pytest.fixture(scope="session")
def llama_logs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the servers' stderr logs go (one file per start)."""
    return tmp_path_factory.mktemp("llama-logs")


@pytest.fixture(scope="session", autouse=True)
def _no_leftover_llama_servers() -> Iterator[None]:
    yield
    leftovers = launcher_children()
    for pid in leftovers:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
    if leftovers:
        pytest.fail(f"llama server processes left running at session end: {leftovers}")


@pytest.fixture(scope="session")
def _shared_llama_server(tiny_model_path: Path, llama_logs_dir: Path) -> Iterator[LlamaServer]:
    server = LlamaServer(tiny_model_path, log_dir=llama_logs_dir)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def llama_server(_shared_llama_server: LlamaServer) -> LlamaServer:
    if not _shared_llama_server.running:
        _shared_llama_server.restart()
    return _shared_llama_server


@pytest.fixture(scope="module")
def _shared_embedding_llama_server(
    tiny_model_path: Path, llama_logs_dir: Path
) -> Iterator[LlamaServer]:
    # Mean pooling: the generated GGUF declares no pooling type, and llama.cpp refuses
    # /v1/embeddings with pooling "none" ("not OAI compatible"), see NOTES.md.
    server = LlamaServer(tiny_model_path, log_dir=llama_logs_dir, embedding=True, pooling="mean")
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def embedding_llama_server(_shared_embedding_llama_server: LlamaServer) -> LlamaServer:
    if not _shared_embedding_llama_server.running:
        _shared_embedding_llama_server.restart()
    return _shared_embedding_llama_server


@pytest.fixture
def llama_server_factory(
    tiny_model_path: Path, llama_logs_dir: Path
) -> Iterator[LlamaServerFactory]:
    servers: list[LlamaServer] = []

    def factory(**kwargs: Any) -> LlamaServer:
        kwargs.setdefault("log_dir", llama_logs_dir)
        model = kwargs.pop("model", tiny_model_path)
        server = LlamaServer(model, **kwargs)
        servers.append(server)
        return server.start()

    try:
        yield factory
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def fresh_llama_server(llama_server_factory: LlamaServerFactory) -> LlamaServer:
    return llama_server_factory()
