"""``kind`` chosen by HTTP clients: ``/performance-metrics`` stays bounded."""

from __future__ import annotations

import asyncio
from pathlib import Path

from actors.performance import MAX_OTHER_KINDS, OTHER_KIND
from runtime.testing import ChaosServer
from tests.runtime.serve._support import USER, facade

Servers = tuple[ChaosServer, ChaosServer]


async def test_client_kinds_fold_into_other_and_the_metrics_stop_growing(
    tmp_path: Path, servers: Servers
) -> None:
    async with facade(tmp_path, servers) as served, served.client() as http:

        async def send(kinds: range) -> None:
            bodies = [{"model": "gen", "messages": USER, "kind": f"client-{i}"} for i in kinds]
            replies = await asyncio.gather(
                *(http.post("/v1/chat/completions", json=b) for b in bodies)
            )
            assert all(r.status_code == 200 for r in replies)

        await send(range(MAX_OTHER_KINDS + 1))
        first = (await http.get("/performance-metrics")).content
        for start in range(MAX_OTHER_KINDS + 1, 400, 40):
            await send(range(start, min(start + 40, 400)))
        await http.post("/api/chat", json={"model": "coder", "messages": USER, "stream": False})
        last = await http.get("/performance-metrics")
        unknown = await http.get("/performance-metrics", params={"kind": "client-399"})
    kinds = set(last.json()["requests"])
    assert kinds == {f"client-{i}" for i in range(MAX_OTHER_KINDS)} | {OTHER_KIND, "code"}
    assert last.json()["requests"][OTHER_KIND] == 400 - MAX_OTHER_KINDS, last.json()["requests"]
    assert len(last.content) < 2 * len(first) + 2_000  # not growing with every kind
    assert unknown.status_code == 404  # folded: its samples are under "other"
