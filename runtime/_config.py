"""The runtime's configuration schema: frozen msgspec Structs shared by YAML and TOML.

A ``RuntimeConfig`` is always valid: building one in Python runs the same checks as
loading a file (``__post_init__``), and a rejected config raises ``ConfigError``
listing every problem by key path. Nothing here reads files or environment
variables; ``runtime._config_load`` does that for entry points.

Every Struct is frozen, keyword-only and forbids unknown fields, so a typo in a key
is an error rather than a silently ignored setting. Times are seconds (floats),
ratios are in ``(0, 1]`` unless a field says otherwise.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from runtime._config_rates import RateLimitConfig

__all__ = [
    "EndpointConfig",
    "EventLogConfig",
    "HealthConfig",
    "ModelConfig",
    "PerformanceConfig",
    "QuotaConfig",
    "QuotaLimit",
    "RateLimitConfig",
    "RetryConfig",
    "RoleConfig",
    "RuntimeConfig",
    "ShutdownConfig",
    "TimeoutOverrides",
    "Timeouts",
]

Api = Literal["ollama", "openai"]
_THRESHOLD = 3
OptionValue = str | int | float | bool | None
Strategy = Literal["round_robin", "least_inflight", "weighted", "performance"]
RoleStrategy = Literal["ordered", "performance"]


class EventLogConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where and how events are stored."""

    path: str = "runtime-events.sqlite3"
    """SQLite file of the event log (relative to the working directory)."""
    url: str | None = None
    """``postgresql://user:password@host:port/db``: the log in PostgreSQL instead (shared
    by every runtime given the same URL); ``path`` and ``durability`` then do not apply."""
    durability: Literal["normal", "full"] = "normal"
    """``normal`` survives a process crash; ``full`` also survives power loss (slower)."""
    snapshot_every: int = 1000
    """Write projection snapshots every this many events (> 0)."""
    store_bodies: bool = False
    """Store prompt and completion bodies; by default only lengths and hashes are kept."""
    acknowledge: Literal["after_commit", "background"] | None = None
    """When ``chat``/``stream`` hand back their result: ``after_commit`` only once the
    request's events are committed (a crash then never loses an answered request), or
    ``background`` at once, the events following within the linger (~50 ms). Default:
    ``after_commit`` with ``durability: full``, else ``background``."""

    on_log_failure: Literal["refuse", "serve"] = "refuse"
    """While the log cannot write (disk full, locked...): ``refuse`` new requests
    (``EventLogFailing``) until it can, or ``serve`` them unrecorded (counted)."""

    on_damage: Literal["refuse", "warn"] = "refuse"
    """When the start-up check finds the log damaged (a corrupt event or a gap near its
    end, an absurd timestamp, a snapshot failing its checksum): ``refuse`` to start
    (``InvalidLogFile``), or ``warn`` and start."""
    retain: str | None = None
    """Delete request events older than this (``30d``, ``12h``, ``90m``) behind snapshots
    of health, quota, performance, catalog and router state; None: keep every event."""

    @property
    def after_commit(self) -> bool:
        """Whether requests wait for their events' commit (the ``acknowledge`` in force)."""
        if self.acknowledge is None:
            return self.durability == "full"
        return self.acknowledge == "after_commit"


class Timeouts(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Separate deadlines for each phase of an HTTP call, in seconds (all > 0)."""

    connect: float = 5.0
    """Establishing the TCP/TLS connection."""
    first_byte: float = 60.0
    """From sending the request to the first byte of the response (model load time)."""
    idle: float = 30.0
    """Longest silence between two chunks of a response (a stalled stream)."""
    total: float = 300.0
    """The whole call, first byte to last."""


class TimeoutOverrides(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Per-model overrides of an endpoint's timeouts; ``None`` keeps the endpoint's."""

    connect: float | None = None
    first_byte: float | None = None
    idle: float | None = None
    total: float | None = None


class EndpointConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One backend server (Ollama, LM Studio, vLLM, llama.cpp, an OpenAI-compatible API)."""

    name: str
    """Unique name that models' ``deployments`` refer to."""
    url: str
    """Base URL, http(s) only, no credentials, query or fragment; trailing ``/`` dropped.
    ``http://host:port``, ``http://host:port/v1`` (as the openai client is given it) and
    a path prefix (``http://host/proxy/ollama``) all work for both APIs: a trailing
    ``/v1`` is dropped (the API paths start with it, or for Ollama's native API at the
    root, do without it) and any other prefix is kept."""
    api: Api = "ollama"
    """Wire protocol: ``ollama`` (``/api/chat``) or ``openai`` (``/v1/chat/completions``)."""
    api_key_env: str | None = None
    """Name of the environment variable holding the API key (never the key itself)."""
    max_concurrency: int | None = None
    """Most requests in flight to this endpoint at once (>= 1). Unset (None, the
    default): asked of the backend at start-up (llama.cpp's ``GET /props``
    ``total_slots``; nothing for Ollama, which does not report its parallelism), else 8.
    A set value above what llama.cpp reports is used but warned about at start-up."""
    timeouts: Timeouts = msgspec.field(default_factory=Timeouts)
    """Default deadlines for calls to this endpoint."""
    verify_tls: bool = True
    """Check the server's TLS certificate (turn off only for a self-signed test server)."""
    transport: Literal["aiohttp", "httpx"] = "aiohttp"
    """The HTTP client under the calls: ``aiohttp`` (the default: its connection pool
    costs a fraction of httpx's CPU per request, and stays flat as concurrency grows)
    or ``httpx`` (httpx's own pool). Deadlines, caps and failure classes are the same."""
    models: Literal["auto"] | tuple[str, ...] | None = None
    """Models this endpoint serves that may be used by name without configuring them:
    ``auto`` (every model in its model list, ``/api/tags`` or ``/v1/models``) or glob
    patterns (``["qwen*", "llama3*"]``). Found in the list, refreshed with it, routable
    with ``model=`` without a restart (round robin over the endpoints discovering it,
    their timeouts, no model defaults); a configured model of the same name wins.
    None (the default): only configured models."""


class ModelConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A model and the endpoints (deployments) that serve it."""

    name: str
    """The model's name as the backend knows it, e.g. ``llama3.2:3b``."""
    deployments: tuple[str, ...]
    """Names of the endpoints serving this model, in order of preference."""
    alias: str | None = None
    """Another name callers and roles may use for the model."""
    strategy: Strategy = "round_robin"
    """How a deployment is picked among the healthy ones."""
    weights: dict[str, float] = msgspec.field(default_factory=dict)
    """Endpoint name -> relative weight (> 0); only with ``strategy: weighted``."""
    max_tokens: int | None = None
    """Default cap on generated tokens, unless the call sets one."""
    context_length: int | None = None
    """Context window in tokens on every deployment (unset: what the backends report);
    a request that does not fit skips the model (``actors.router._windows``)."""
    temperature: float | None = None
    """Default sampling temperature (>= 0), unless the call sets one."""
    options: dict[str, OptionValue | list[str]] = msgspec.field(default_factory=dict)
    """Default backend options for this model (``num_ctx``, ``keep_alive``, ``top_k``,
    ...), merged under a call's own ``options``: Ollama ``options`` entries, or extra
    top-level fields of an OpenAI-compatible body."""
    timeouts: TimeoutOverrides = msgspec.field(default_factory=TimeoutOverrides)
    """Overrides of the endpoints' timeouts for this model (big models load slowly)."""
    fallbacks: tuple[str, ...] = ()
    """Configured models (names or aliases) tried next, in order: after it for ``model=``
    and right after it in roles. One level: their own ``fallbacks`` are not followed."""


class RoleConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A role's model chain; in files a bare list of model names is accepted too."""

    models: tuple[str, ...]
    """Model names or aliases: the primary first, then the fallbacks in order."""
    kind: str | None = None
    """Task kind used by performance routing (e.g. ``code``); defaults to the role name."""
    strategy: RoleStrategy = "ordered"
    """``ordered`` (as configured) or ``performance`` (best-scoring model for the kind first)."""


class HealthConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Circuit breaking, quarantine and background health checks per deployment."""

    failure_threshold: int = _THRESHOLD
    """Consecutive failures that quarantine a deployment (>= 1)."""
    failure_rate_threshold: float = 0.5
    """Failure rate over the window that quarantines a deployment, in (0, 1]."""
    window_size: int = 20
    """Number of recent calls the failure rate is computed over (>= 1)."""
    min_calls: int = 10
    """Calls needed in the window before the rate is judged (1..window_size)."""
    quarantine_seconds: float = 300.0
    """First quarantine duration (> 0)."""
    quarantine_backoff: float = 2.0
    """Each repeated quarantine lasts this many times longer (>= 1)."""
    quarantine_max_seconds: float = 3600.0
    """Upper bound of a quarantine (>= quarantine_seconds)."""
    half_open_probes: int = 1
    """Trial calls let through after a quarantine to decide recovery (>= 1)."""
    check_interval_seconds: float = 60.0
    """Seconds between background health checks; 0 disables them."""
    check_generation: bool = False
    """Health checks also generate one token, not only list models."""
    degraded_latency_seconds: float | None = None
    """A deployment is ``degraded`` while the median latency of its last 5 successful
    calls (a stream: time to first chunk) exceeds this (> 0); it is healthy again once at
    most 1 of 5 does. While slow it gets less traffic. None: never judged."""
    cool_down_seconds: float = 5.0
    """Cool-down after a 429 without ``Retry-After`` (>= 0): every request skips the
    deployment meanwhile. A 429 (or a 503 with ``Retry-After``) is not a health failure."""
    cool_down_max_seconds: float = 60.0
    """Longest cool-down a ``Retry-After`` sets (>= 0); 0 turns cool-downs off."""
    panic_probe: bool = True
    """When every deployment a request could use is quarantined or cooling down, try
    the one back soonest (as a probe) instead of failing without trying."""
    liveness_check_seconds: float = 1.0
    """While a deployment is quarantined for a connection failure, check that its
    endpoint is back (TCP connect, then the model list; never a completion) after this,
    then twice as long each time, up to the quarantine; 0 disables the checks."""
    fallback_after_failures: int | None = None
    """Another name for ``failure_threshold`` (the failures before the fallback takes
    over); wins over its default, an error if both are set and differ."""

    def __post_init__(self) -> None:
        if (self.fallback_after_failures or 0) >= 1 and self.failure_threshold == _THRESHOLD:
            msgspec.structs.force_setattr(self, "failure_threshold", self.fallback_after_failures)


class RetryConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Retries, backoff with full jitter, and the gRPC-style retry budget."""

    max_attempts: int = 3
    """Attempts per request across all candidates, the first one included (>= 1)."""
    backoff_base: float = 0.5
    """Backoff before retry n is U(0, min(cap, base * 2**n)) seconds (>= 0)."""
    backoff_cap: float = 10.0
    """Upper bound of one backoff (>= backoff_base)."""
    retry_budget_ratio: float = 0.1
    """Tokens a success refunds to the retry budget, in (0, 1]."""
    retry_budget_max_tokens: float = 10.0
    """Size of the retry budget; no retries while it holds <= half of this (> 0)."""
    retry_after_cap_seconds: float = 30.0
    """Longest ``Retry-After`` honoured (>= 0)."""
    request_deadline_seconds: float = 600.0
    """Deadline of a whole request including retries and fallbacks (> 0)."""


class QuotaLimit(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Daily limits; ``None`` means unlimited."""

    daily_requests: int | None = None
    """Requests per day (>= 1)."""
    daily_tokens: int | None = None
    """Prompt plus completion tokens per day (>= 1)."""
    rpm: int | None = None
    """Requests per minute of *each* deployment of the model (>= 1; ``per_model`` only)."""
    tpm: int | None = None
    """Tokens per minute of *each* deployment of the model (>= 1; ``per_model`` only)."""


class QuotaConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Daily quotas, reset at ``reset_hour`` in ``timezone``."""

    timezone: str = "UTC"
    """IANA time zone of the reset hour, e.g. ``Europe/Berlin``."""
    reset_hour: int = 0
    """Hour of day (0-23) at which the daily counters reset."""
    warn_ratio: float = 0.8
    """Emit a warning when this share of a limit is used, in (0, 1]."""
    daily_requests: int | None = None
    """Requests per day over all models; None: unlimited."""
    daily_tokens: int | None = None
    """Tokens per day over all models; None: unlimited."""
    per_model: dict[str, QuotaLimit] = msgspec.field(default_factory=dict)
    """Model name or alias -> its own limits."""
    per_role: dict[str, QuotaLimit] = msgspec.field(default_factory=dict)
    """Role name -> its own limits."""
    per_deployment: dict[str, RateLimitConfig] = msgspec.field(default_factory=dict)
    """``model@endpoint`` (model name or alias) -> its per-minute limits, over the
    model's ``rpm``/``tpm`` field by field."""
    wait_seconds: float = 0.0
    """Longest a request waits in all for a rate limit to refill when every deployment
    of its model is over its rate (0: fail at once with ``RateLimited``)."""
    on_exceeded: Literal["fail", "fallback"] = "fail"
    """``fail`` refuses the request; ``fallback`` tries the next model in the chain."""


class PerformanceConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Performance-based routing: recent latency/success per (task kind, model)."""

    window: int = 100
    """Samples kept per (task kind, model) (>= 1)."""
    min_samples: int = 5
    """Samples needed before a score is trusted (1..window)."""
    explore_ratio: float = 0.1
    """Share of requests sent to a non-best candidate to keep scores fresh, in [0, 1]."""


class ShutdownConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What ``aclose()`` does with requests still in flight."""

    drain_seconds: float = 5.0
    """Seconds ``aclose()`` lets requests in flight finish before it cancels them (they
    then fail with ``RuntimeNotRunning``); 0 cancels them at once. New calls are refused
    from the moment ``aclose()`` starts."""


class RuntimeConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The whole configuration. Construction validates everything (``ConfigError``)."""

    endpoints: tuple[EndpointConfig, ...]
    """Backend servers (at least one)."""
    models: tuple[ModelConfig, ...] = ()
    """Models and their deployments (at least one, unless an endpoint discovers models
    with ``models: auto`` or patterns)."""
    roles: dict[str, RoleConfig] = msgspec.field(default_factory=dict)
    """Role name -> model chain (primary, then fallbacks)."""
    event_log: EventLogConfig = msgspec.field(default_factory=EventLogConfig)
    health: HealthConfig = msgspec.field(default_factory=HealthConfig)
    retry: RetryConfig = msgspec.field(default_factory=RetryConfig)
    quota: QuotaConfig = msgspec.field(default_factory=QuotaConfig)
    performance: PerformanceConfig = msgspec.field(default_factory=PerformanceConfig)
    shutdown: ShutdownConfig = msgspec.field(default_factory=ShutdownConfig)

    def __post_init__(self) -> None:
        # Imported here: the validator builds these Structs, so a module-level
        # import would be circular. It raises ConfigError listing every problem,
        # otherwise returns the canonical sections (tuples, RoleConfig, clean URLs).
        from runtime._config_load import canonical_sections

        for name, value in canonical_sections(self).items():
            msgspec.structs.force_setattr(self, name, value)

    def role_chain(self, role: str) -> tuple[str, ...]:
        """Model names (aliases resolved) for ``role``: primary first, then fallbacks,
        each followed by its own ``fallbacks`` (duplicates dropped).

        Raises:
            KeyError: ``role`` is not configured; the message lists the roles.
        """
        try:
            entry = self.roles[role]
        except KeyError:
            known = ", ".join(sorted(self.roles)) or "none"
            raise KeyError(f"unknown role {role!r}; configured roles: {known}") from None
        return tuple(dict.fromkeys(m for name in entry.models for m in self.model_chain(name)))

    def model_chain(self, name_or_alias: str) -> tuple[str, ...]:
        """The model's name, then its ``fallbacks``' (aliases resolved; KeyError: unknown)."""
        model = self.model(name_or_alias)
        return tuple(dict.fromkeys((model.name, *(self.model(f).name for f in model.fallbacks))))

    def role_kind(self, role: str) -> str:
        """The task kind of ``role`` for performance routing (its name by default)."""
        self.role_chain(role)  # raises the helpful KeyError for unknown roles
        return self.roles[role].kind or role

    def model(self, name_or_alias: str) -> ModelConfig:
        """The model called ``name_or_alias`` (its backend name or its alias).

        Raises:
            KeyError: no such model; the message lists the configured ones.
        """
        for model in self.models:
            if name_or_alias in (model.name, model.alias):
                return model
        known = ", ".join(m.name for m in self.models)
        raise KeyError(f"unknown model {name_or_alias!r}; configured models: {known}")

    def endpoint(self, name: str) -> EndpointConfig:
        """The endpoint called ``name``.

        Raises:
            KeyError: no such endpoint; the message lists the configured ones.
        """
        for endpoint in self.endpoints:
            if endpoint.name == name:
                return endpoint
        known = ", ".join(e.name for e in self.endpoints)
        raise KeyError(f"unknown endpoint {name!r}; configured endpoints: {known}")

    def deployments(self, model: str) -> tuple[EndpointConfig, ...]:
        """The endpoints serving ``model`` (name or alias), in configured order."""
        return tuple(self.endpoint(name) for name in self.model(model).deployments)

    def timeouts_for(self, model: str, endpoint: str) -> Timeouts:
        """Effective timeouts of ``model`` on ``endpoint``: the model's overrides win."""
        base = self.endpoint(endpoint).timeouts
        overrides = self.model(model).timeouts
        changes = {
            field: value
            for field in overrides.__struct_fields__
            if (value := getattr(overrides, field)) is not None
        }
        return msgspec.structs.replace(base, **changes) if changes else base
