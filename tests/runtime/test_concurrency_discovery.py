"""``max_concurrency`` left unset: asked of the backend at start-up, else 8.

The chaos backend has no ``/props`` (like vLLM or OpenAI), so nothing is discovered
there; the discovery itself runs against the real llama.cpp server in
``tests/real_backend/test_concurrency_llama.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime import (
    EndpointConfig,
    EventLogConfig,
    HealthConfig,
    ModelConfig,
    Runtime,
    RuntimeConfig,
)
from runtime._config_load import config_from_raw, parse_config_text
from runtime.testing import ChaosServer
from tests.runtime._support import MESSAGES, PATIENT


def test_unset_and_null_both_mean_discover() -> None:
    for value in ("", ", max_concurrency: null"):
        text = (
            f'endpoints:\n  - {{name: a, url: "http://127.0.0.1:9"{value}}}\n'
            "models:\n  - {name: m, deployments: [a]}\n"
        )
        assert config_from_raw(parse_config_text(text, "yaml")).endpoints[0].max_concurrency is None


@pytest.mark.parametrize("api", ["ollama", "openai"])
async def test_an_endpoint_that_reports_no_slots_gets_eight(tmp_path: Path, api: str) -> None:
    async with ChaosServer(models=["m"], seed=1) as server:
        cfg = RuntimeConfig(
            endpoints=(EndpointConfig(name="a", url=server.url, api=api, timeouts=PATIENT),),  # type: ignore[arg-type]
            models=(ModelConfig(name="m", deployments=("a",)),),
            event_log=EventLogConfig(path=str(tmp_path / "events.sqlite3")),
            health=HealthConfig(check_interval_seconds=0),
        )
        async with Runtime.from_config(cfg) as rt:
            (endpoint,) = rt.statistics().endpoints
            reply = await rt.chat(MESSAGES, model="m")
        assert endpoint.max_concurrency == 8 and reply.content
        # Only an OpenAI-compatible endpoint is asked (Ollama cannot tell).
        asked = server.requests_for(route="/props")
        assert asked >= 1 if api == "openai" else asked == 0
