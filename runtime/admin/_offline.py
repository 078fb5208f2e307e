"""The admin commands without a running serve: straight to the config's event log.

``reset``: appends, for each deployment the target names, the ``HealthReset`` event the
health actor would (``decide`` on a ``Reset`` command, the same ``health/<deployment>``
stream), and returns once it is committed; no backend is contacted. The next start
replays it: the deployment starts ``unknown``, quarantine forgotten.

``probe``: a check needs the backends, the catalog and the health actor, so it starts
a Runtime on the config (replay, first model lists: no request traffic), runs
``Runtime.probe`` once, and closes it (its events flushed and snapshotted).

Neither may be used while a serve (or any runtime) runs on the same log: that process
keeps its health in memory and would not see the events. Use ``--serve`` then.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from actors.health import DeploymentHealth, Reset, decide, durable, evolve
from events import HEALTH_STREAM_PREFIX, EventLogError, Projector
from runtime._build import HEALTH_PROJECTION, deployment_ids, health_policy
from runtime._config import RuntimeConfig
from runtime._config_load import load_config
from runtime._errors import ConfigError, InvalidRequest, LLMRuntimeError
from runtime._open_log import open_event_log
from runtime._probe import ProbeResult
from runtime._request import Resolver
from runtime._runtime import Runtime
from runtime.admin._errors import UNREACHABLE, AdminError
from runtime.serve._admin_body import target_problem

__all__ = ["DeploymentReset", "load", "probe_offline", "reset_offline", "targets"]


@dataclass(frozen=True)
class DeploymentReset:
    """One deployment reset: its status before and after."""

    deployment: str
    before: str
    after: str


def load(path: str) -> RuntimeConfig:
    """The config at ``path``, or ``AdminError`` listing its problems (exit 2)."""
    try:
        return load_config(path)
    except ConfigError as exc:
        raise AdminError(f"invalid configuration {path}: {_problems(exc)}") from None


def targets(config: RuntimeConfig, target: str) -> tuple[str, ...]:
    """The deployments ``target`` names (as ``Runtime.reset_health``), else ``AdminError``."""
    problem = target_problem(target)
    if problem is not None:
        raise AdminError(problem)
    try:
        return Resolver(config).targets(deployment_ids(config), target)
    except InvalidRequest as exc:
        raise AdminError(f"unknown target: {exc}") from None


async def reset_offline(
    config: RuntimeConfig, target: str, reason: str, *, now: float | None = None
) -> tuple[DeploymentReset, ...]:
    """Append the ``HealthReset`` of every deployment ``target`` names; committed on return.

    Raises:
        AdminError: Unknown target (exit 2); no or unusable event log (exit 3).
    """
    chosen = targets(config, target)
    section = config.event_log
    path = section.path if section.url is None else "(event_log.url)"
    if section.url is None and not await asyncio.to_thread(Path(path).is_file):
        raise AdminError(
            f"no event log at {path}: nothing to reset (the runtime never ran there?)",
            UNREACHABLE,
        )
    policy = health_policy(config.health)
    at = time.time() if now is None else now
    try:
        log = await open_event_log(section)
    except EventLogError as exc:
        raise AdminError(f"cannot open the event log {path}: {_line(exc)}", UNREACHABLE) from None
    done: list[DeploymentReset] = []
    try:
        every = config.event_log.snapshot_every
        states = (await Projector.start(log, HEALTH_PROJECTION, snapshot_every=every)).state
        for did in chosen:
            state = states.get(did) or DeploymentHealth(deployment=did)
            events = durable(decide(state, Reset(reason=reason), policy, at))
            await log.append(HEALTH_STREAM_PREFIX + did, events)
            after = state
            for event in events:
                after = evolve(after, event)
            done.append(DeploymentReset(did, state.status.value, after.status.value))
    except EventLogError as exc:
        raise AdminError(f"cannot write the event log {path}: {_line(exc)}", UNREACHABLE) from None
    finally:
        await log.close()
    return tuple(done)


async def probe_offline(
    config: RuntimeConfig, target: str, environ: Mapping[str, str]
) -> tuple[ProbeResult, ...]:
    """Start a Runtime on ``config``, ``probe(target)`` once, close it.

    Raises:
        AdminError: Unknown target or missing API key (exit 2); the runtime could not
            start (exit 3).
    """
    targets(config, target)  # refuse before anything starts
    try:
        rt = Runtime.from_config(config, environ=environ)
    except ConfigError as exc:
        raise AdminError(f"invalid configuration: {_problems(exc)}") from None
    try:
        try:
            await rt.start()
        except (LLMRuntimeError, EventLogError, OSError) as exc:
            raise AdminError(f"could not start the runtime: {_line(exc)}", UNREACHABLE) from None
        return await rt.probe(target)
    finally:
        await rt.aclose()


def _problems(exc: ConfigError) -> str:
    return "; ".join(str(p) for p in exc.problems)


def _line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
