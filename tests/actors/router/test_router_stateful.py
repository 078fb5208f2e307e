"""Requests through the real actors under random backend behaviour, time and resets.

Invariants checked on every call and after every step:

- no attempt ever reaches a deployment that health has out of selection (quarantined
  before its deadline, or failed) — checked by the backend at the moment it is called;
- a request never makes more than ``max_attempts`` attempts;
- a request that had an admissible deployment at its start never ends in NoCandidates;
- nothing is left in flight, and the router's cursors equal the fold of the events
  recorded (replay == live).

The backends are ``httpx.MockTransport`` fakes behind real ``EndpointTransport``s and
``EndpointActor``s (hundreds of examples would be too slow over sockets); the socket
path is covered by the Runtime tests against the chaos server.
"""

from __future__ import annotations

import asyncio
import json

import httpx
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from actors import ActorRef, ActorSystem, ManualClock
from actors.endpoint import EndpointTransport, GetEndpointStatistics, Message
from actors.health import (
    GetHealth,
    GetHealthStatistics,
    HealthMessage,
    HealthPolicy,
    HealthStatus,
    ResetHealth,
    Screen,
)
from actors.router import (
    AllCandidatesFailed,
    GetRouterState,
    GetRouterStatistics,
    ModelRoute,
    NoCandidates,
    RequestRejected,
    RetryPolicy,
    RouteRequest,
    RouterState,
    evolve_router,
)
from events import fold
from tests.actors.router._world import World, spawn_world

ENDPOINTS = ("a", "b", "c")
ROUTES = {
    "m1": ModelRoute(deployments=("a", "b", "c")),
    "m2": ModelRoute(deployments=("b", "c"), strategy="least_inflight"),
    "m3": ModelRoute(deployments=("c", "a"), strategy="weighted", weights={"c": 2.0}),
}
DIDS = [f"{m}@{e}" for m, r in ROUTES.items() for e in r.deployments]
MODES = ("ok", "server_error", "connection", "rate_limited", "auth", "context_overflow")
MAX_ATTEMPTS = 4
CLOSED = (HealthStatus.FAILED, HealthStatus.QUARANTINED)
REPLY = {"model": "x", "message": {"role": "assistant", "content": "ok"}, "done": True}


class Backends:
    """One fake server per endpoint; asserts health admitted every call it gets."""

    def __init__(self) -> None:
        self.modes = dict.fromkeys(ENDPOINTS, "ok")
        self.health: ActorRef[HealthMessage] | None = None
        self.calls = 0

    def transport(self, endpoint: str) -> httpx.MockTransport:
        def handle(request: httpx.Request) -> httpx.Response:
            self.calls += 1
            model = json.loads(request.content)["model"]
            assert self.health is not None
            state = self.health.ask_nowait(GetHealth()).states[f"{model}@{endpoint}"]
            assert state.status not in CLOSED, f"call to {state.deployment} while {state.status}"
            match self.modes[endpoint]:
                case "ok":
                    return httpx.Response(200, json={**REPLY, "model": model})
                case "server_error":
                    return httpx.Response(503, json={"error": "busy"})
                case "connection":
                    raise httpx.ConnectError("refused", request=request)
                case "rate_limited":
                    return httpx.Response(429, headers={"Retry-After": "0"}, json={"error": "x"})
                case "auth":
                    return httpx.Response(401, json={"error": "bad key"})
                case _:
                    return httpx.Response(400, json={"error": "input exceeds the context window"})

        return httpx.MockTransport(handle)


class RouterMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = ManualClock()
        self.backends = Backends()
        self.transports = {
            e: EndpointTransport(
                name=e, url=f"http://{e}.test", api="ollama", transport=self.backends.transport(e)
            )
            for e in ENDPOINTS
        }
        self.system = ActorSystem(clock=self.clock)
        policy = HealthPolicy(failure_threshold=2, quarantine_seconds=10.0, min_calls=5)
        retry = RetryPolicy(max_attempts=MAX_ATTEMPTS, backoff_base=0.0, budget_max_tokens=6)
        self.world: World = self.run(
            spawn_world(
                self.system, self.clock, ROUTES, self.transports, health_policy=policy,
                policy=retry,
            )
        )  # fmt: skip
        self.backends.health = self.world.refs.health

    def run(self, work):  # type: ignore[no-untyped-def]
        return self.loop.run_until_complete(work)

    def teardown(self) -> None:
        async def close() -> None:
            await self.system.shutdown(timeout=1.0)
            for transport in self.transports.values():
                await transport.aclose()
            await self.clock.aclose()

        self.run(close())
        self.loop.close()

    @rule(endpoint=st.sampled_from(ENDPOINTS), mode=st.sampled_from(MODES))
    def backend_changes(self, endpoint: str, mode: str) -> None:
        self.backends.modes[endpoint] = mode

    @rule(seconds=st.sampled_from([1.0, 5.0, 11.0]))
    def time_passes(self, seconds: float) -> None:
        self.run(self.clock.advance(seconds))

    @rule(deployment=st.sampled_from(DIDS))
    def operator_resets(self, deployment: str) -> None:
        self.run(self.world.refs.health.ask(ResetHealth((deployment,))))

    @rule(chain=st.lists(st.sampled_from(sorted(ROUTES)), min_size=1, max_size=3, unique=True))
    def request(self, chain: list[str]) -> None:
        health = self.world.refs.health
        chained = tuple(d for d in DIDS if d.rpartition("@")[0] in chain)
        blocked = health.ask_nowait(Screen(chained)).blocked
        admissible = [d for d in chained if d not in blocked]
        request = RouteRequest(chain=tuple(chain), messages=(Message(role="user", content="x"),))
        try:
            reply = self.run(self.world.driver.chat(request))
        except NoCandidates:
            assert not admissible, f"NoCandidates although {admissible} were admissible"
        except (AllCandidatesFailed, RequestRejected) as exc:
            assert 1 <= len(exc.attempts) <= MAX_ATTEMPTS
        else:
            assert 1 <= len(reply.attempts) <= MAX_ATTEMPTS and reply.attempts[-1].ok
            assert reply.model in chain

    @invariant()
    def nothing_in_flight(self) -> None:
        refs = self.world.refs
        assert refs.router.ask_nowait(GetRouterStatistics()).inflight == {}
        assert refs.health.ask_nowait(GetHealthStatistics()).probes_in_flight == 0
        for endpoint in refs.endpoints.values():
            assert endpoint.ask_nowait(GetEndpointStatistics()).inflight == 0

    @invariant()
    def cursors_are_a_fold_of_the_recorded_events(self) -> None:
        events = self.world.sink.events("request/")
        cursors = self.world.refs.router.ask_nowait(GetRouterState())
        assert fold(evolve_router, RouterState(), events) == cursors


TestRouterMachine = RouterMachine.TestCase
TestRouterMachine.settings = settings(max_examples=40, stateful_step_count=30, deadline=None)
