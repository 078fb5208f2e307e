"""Selection under random health changes and traffic: invariants and replay == live."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from actors.router._plan_events import fallback_events, started_events
from actors.router._select import (
    ModelRoute,
    Plan,
    RouterState,
    Unavailable,
    evolve,
    plan,
)
from events._base import Event
from events._codec import default_registry
from events._routing import deployment_id, split_deployment

ROUTES = {
    "rr": ModelRoute(deployments=("a", "b", "c")),
    "wt": ModelRoute(deployments=("a", "b", "c"), strategy="weighted", weights={"a": 3, "b": 0.5}),
    "li": ModelRoute(deployments=("b", "c"), strategy="least_inflight"),
    "pf": ModelRoute(deployments=("c", "a"), strategy="performance"),
}
DEPLOYMENTS = sorted(deployment_id(m, e) for m, r in ROUTES.items() for e in r.deployments)
REASONS = ("quarantined", "failed", "probing_full", "quota", "unknown_model")
chains = st.lists(st.sampled_from(sorted(ROUTES)), min_size=1, max_size=5)


class Selection(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.blocked: dict[str, Unavailable] = {}
        self.inflight: dict[str, int] = {}
        self.state = RouterState()
        self.log: list[tuple[str, int, bytes]] = []
        self.requests = 0

    # --- the world changes --------------------------------------------------------------

    @rule(deployment=st.sampled_from(DEPLOYMENTS), reason=st.sampled_from(REASONS))
    def block(self, deployment: str, reason: str) -> None:
        self.blocked[deployment] = Unavailable(reason=reason, detail=f"{reason} for a test")

    @rule(deployment=st.sampled_from(DEPLOYMENTS))
    def admit(self, deployment: str) -> None:
        self.blocked.pop(deployment, None)

    @rule(deployment=st.sampled_from(DEPLOYMENTS), load=st.integers(0, 5))
    def load(self, deployment: str, load: int) -> None:
        self.inflight[deployment] = load

    # --- requests -----------------------------------------------------------------------

    def _plan(self, chain: list[str]) -> Plan:
        planned = plan(
            chain,
            ROUTES,
            self.state,
            unavailable=self.blocked,
            inflight=self.inflight,
            order_by_performance=lambda ids: sorted(ids, reverse=True),
        )
        self._check(planned, chain)
        return planned

    def _apply(self, events: tuple[Event, ...]) -> None:
        for event in events:
            self.log.append(default_registry.encode(event))
            self.state = evolve(self.state, event)

    @rule(chain=chains)
    def request(self, chain: list[str]) -> None:
        before = self.state
        planned = self._plan(chain)
        self.requests += 1
        rid = f"r{self.requests}"
        self._apply(
            started_events(
                planned,
                request_id=rid,
                at=float(self.requests),
                role="role",
                model=None,
                kind=None,
                stream=False,
                prompt_chars=1,
                prompt_hash="h",
            )
        )
        self._check_round_robin(planned, before)

    @rule(chain=chains, fail_models=st.integers(1, 4))
    def request_with_fallbacks(self, chain: list[str], fail_models: int) -> None:
        self.request(chain)
        rest = list(dict.fromkeys(chain))
        for _ in range(fail_models):  # each used model fails; re-plan the rest at the switch
            current = self._plan(rest)
            if current.empty:
                return
            rest = rest[rest.index(current.groups[0].model) + 1 :]
            replanned = self._plan(rest)
            if replanned.empty:
                return
            self._apply(
                fallback_events(
                    replanned,
                    request_id=f"r{self.requests}",
                    at=0.0,
                    from_model=current.groups[0].model,
                    reason="failure",
                )
            )

    # --- properties ---------------------------------------------------------------------

    def _check(self, planned: Plan, chain: list[str]) -> None:
        candidates = planned.candidates
        assert len(candidates) == len(set(candidates)), "duplicate candidate"
        assert not set(candidates) & set(self.blocked), "picked a non-admissible deployment"
        skipped = [s.deployment for s in planned.skipped]
        everything = {deployment_id(m, e) for m in chain for e in ROUTES[m].deployments}
        assert set(candidates) | set(skipped) == everything
        assert not set(candidates) & set(skipped)
        assert planned.empty == (everything <= set(self.blocked))
        order = [split_deployment(d)[0] for d in candidates]
        models = list(dict.fromkeys(order))
        assert models == [m for m in dict.fromkeys(chain) if m in models], "chain order"
        assert order == sorted(order, key=models.index), "not grouped by model"
        if planned.weights:
            assert len(planned.weights) == len(candidates)

    def _check_round_robin(self, planned: Plan, before: RouterState) -> None:
        """A round-robin first pick is the next admissible one after the cursor."""
        if planned.empty or planned.groups[0].model != "rr":
            return
        configured = [f"rr@{e}" for e in ROUTES["rr"].deployments]
        last = before.last.get("rr")
        start = configured.index(f"rr@{last}") + 1 if last else 0
        rotated = configured[start:] + configured[:start]
        expected = next(d for d in rotated if d not in self.blocked)
        assert planned.candidates[0] == expected

    @precondition(lambda self: self.log)
    @invariant()
    def replay_equals_live(self) -> None:
        replayed = RouterState()
        for name, version, payload in self.log:
            replayed = evolve(replayed, default_registry.decode(name, version, payload))
        assert replayed == self.state

    @invariant()
    def weighted_state_stays_bounded(self) -> None:
        # Smooth WRR conserves the sum of current weights (0 for the admissible peers);
        # frozen peers keep what they had, so nothing drifts off.
        assert all(abs(v) < 50.0 for v in self.state.current.values())


Selection.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
TestSelection = Selection.TestCase
