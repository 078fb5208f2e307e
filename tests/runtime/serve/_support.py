"""Helpers for the facade tests: a runtime over chaos backends served on 127.0.0.1."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
import msgspec

from runtime import HealthConfig, ModelConfig, QuotaConfig, Runtime, RuntimeConfig, Timeouts
from runtime.serve import ServeSettings, create_app
from runtime.serve._server import AppServer
from runtime.testing import ChaosServer
from tests.runtime._support import config

KEY = "test-key-0123456789abcdef"
"""The bearer key the test servers use (long enough for ServeSettings)."""

AUTH = {"Authorization": f"Bearer {KEY}"}
USER = [{"role": "user", "content": "hello there"}]
PATIENT_HTTP = 30.0
"""The raw clients' timeout: httpx's 5 s default can fire on a busy machine."""


@dataclass(frozen=True)
class Facade:
    """A running facade: its URL, the runtime behind it and the two backends."""

    url: str
    rt: Runtime
    a: ChaosServer
    b: ChaosServer
    log: Path

    def client(
        self, *, key: str | None = KEY, headers: Mapping[str, str] | None = None
    ) -> httpx.AsyncClient:
        """A raw client for the facade (with the bearer key unless ``key`` is None)."""
        sent = {} if key is None else {"Authorization": f"Bearer {key}"}
        return httpx.AsyncClient(
            base_url=self.url, headers={**sent, **(headers or {})}, timeout=PATIENT_HTTP
        )


def facade_config(
    tmp_path: Path,
    a: ChaosServer,
    b: ChaosServer,
    *,
    health: HealthConfig | None = None,
    quota: QuotaConfig | None = None,
    timeouts: Timeouts | None = None,
    api: Literal["ollama", "openai"] = "ollama",
) -> RuntimeConfig:
    """llama3 on a and b, qwen on b (alias ``small``), role ``gen`` = llama3 then qwen,
    role ``coder`` = qwen with task kind ``code``; both endpoints speak ``api``."""
    cfg = config(
        tmp_path,
        {"a": a, "b": b},
        {"llama3": ("a", "b"), "qwen": ("b",)},
        roles={"gen": ("llama3", "qwen")},
        health=health,
    )
    roles = dict(cfg.roles)
    roles["coder"] = msgspec.structs.replace(roles["gen"], models=("qwen",), kind="code")
    models = (cfg.models[0], ModelConfig(name="qwen", alias="small", deployments=("b",)))
    changes: dict[str, object] = {"roles": roles, "models": models}
    if quota is not None:
        changes["quota"] = quota
    endpoint_changes: dict[str, object] = {"api": api}
    if timeouts is not None:
        endpoint_changes["timeouts"] = timeouts
    changes["endpoints"] = tuple(
        msgspec.structs.replace(e, **endpoint_changes) for e in cfg.endpoints
    )
    return msgspec.structs.replace(cfg, **changes)


@contextlib.asynccontextmanager
async def serving(rt: Runtime, settings: ServeSettings | None = None) -> AsyncIterator[str]:
    """Serve ``rt`` on 127.0.0.1 (a free port) for the block; yields the URL."""
    settings = settings or ServeSettings(api_key=KEY)
    server = AppServer(create_app(rt, settings), host="127.0.0.1", port=0, settings=settings)
    url = await server.start()
    try:
        yield url
    finally:
        await server.stop()


@contextlib.asynccontextmanager
async def facade(
    tmp_path: Path,
    servers: tuple[ChaosServer, ChaosServer],
    settings: ServeSettings | None = None,
    **options: object,
) -> AsyncIterator[Facade]:
    """A runtime over ``servers`` (``facade_config``) served for the block."""
    a, b = servers
    cfg = facade_config(tmp_path, a, b, **options)  # type: ignore[arg-type]
    async with Runtime.from_config(cfg) as rt, serving(rt, settings) as url:
        yield Facade(url=url, rt=rt, a=a, b=b, log=tmp_path / "events.sqlite3")


@contextlib.asynccontextmanager
async def standalone(
    tmp_path: Path, settings: ServeSettings | None = None, **options: object
) -> AsyncIterator[Facade]:
    """``facade`` over two chaos backends of its own (for module-scoped fixtures)."""
    async with (
        ChaosServer(["llama3", "qwen"], seed=1) as a,
        ChaosServer(["llama3", "qwen"], seed=2) as b,
        facade(tmp_path, (a, b), settings, **options) as running,
    ):
        yield running


def chats(served: Facade) -> int:
    """Chat calls the backends received (the runtime's model-list refreshes excluded)."""
    return sum(
        s.requests_for(route=route)
        for s in (served.a, served.b)
        for route in ("/api/chat", "/v1/chat/completions", "/api/embed", "/v1/embeddings")
    )


def received(served: Facade, route: str = "/api/chat") -> list[dict[str, Any]]:
    """The bodies both backends received on ``route``, a's first."""
    return served.a.received(route=route) + served.b.received(route=route)


def counts(metrics_text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Samples of metric ``name`` in a Prometheus text body, by sorted label pairs."""
    from prometheus_client.parser import text_string_to_metric_families

    found: dict[tuple[tuple[str, str], ...], float] = {}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found
