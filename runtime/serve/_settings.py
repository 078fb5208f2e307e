"""``ServeSettings``: how the HTTP facade listens and what it accepts (validated).

The facade is safe by default: it listens on 127.0.0.1, and refuses to listen on any
other address unless an API key is set (a bearer key every route then requires).
Bodies, message counts, message sizes and ``max_tokens`` are capped, and so are the
connections of one client and the time a connection may take to send its headers.
"""

from __future__ import annotations

import ipaddress
import math

import msgspec

from events import LLMRuntimeError
from runtime._redaction import register_secret

__all__ = ["MIN_KEY_LENGTH", "ServeSettings", "ServeSettingsError", "is_loopback"]

MIN_KEY_LENGTH = 16
"""Shortest API key accepted: a guessable key is no protection on a network."""

_KEY_HINT = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"


class ServeSettingsError(LLMRuntimeError, ValueError):
    """The facade's settings are unsafe or out of range; nothing was started."""


class ServeSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Where the facade listens and the limits it enforces on every request.

    Raises:
        ServeSettingsError: On construction, when a value is out of range or the host
            is not a loopback address and no ``api_key`` is set.
    """

    host: str = "127.0.0.1"
    """Address to listen on; anything but loopback requires ``api_key``."""
    port: int = 8080
    """TCP port (0: any free port; the CLI prints the one chosen)."""
    api_key: str | None = None
    """Bearer key every route requires (``Authorization: Bearer <key>``); None: no
    key, allowed on loopback only. Never shown by ``repr``."""
    max_body_bytes: int = 1024 * 1024
    """Largest request body (413 above it, chunked bodies included)."""
    max_tokens_cap: int = 32768
    """Largest ``max_tokens`` / ``num_predict`` a client may ask for (400 above it).
    Only a refusal: a request that sets none is passed on without one (the models'
    configured defaults, else the backend's, apply), exactly as ``rt.chat`` does."""
    max_messages: int = 256
    """Most messages in one request."""
    max_message_chars: int = 200_000
    """Most characters in one message's content."""
    request_timeout: float = 600.0
    """Seconds one request (a whole stream included) may take: 504, or an error event
    in a stream, after that."""
    max_concurrency: int = 256
    """Requests served at once (heads received, responses not finished); more get 503
    ``server_busy``. Open connections waiting for a request do not count."""
    max_connections: int = 1024
    """Connections open at once in all. A new one beyond it takes the place of the
    connection that has waited longest without a request (idle, or still sending its
    head), which is closed; it is refused (503 ``too_many_connections``) only when every
    open connection is serving a request. Keep it under the process's open-file limit."""
    max_connections_per_client: int = 64
    """Connections open at once from one client address; beyond it, that address's
    longest-waiting connection is closed (503 ``too_many_connections``) to make room,
    or the new one refused when all of them are serving requests."""
    header_timeout: float = 10.0
    """Seconds a connection may take to send a request's headers (after connecting, or
    after its previous response); then 408 ``header_timeout`` and closed (slowloris).
    It covers a connection that sends nothing at all."""
    keep_alive_timeout: float = 5.0
    """Seconds a connection may stay idle after a response before it is closed
    (uvicorn's ``timeout_keep_alive``)."""
    ui: bool = True
    """Serve the web view of the log at ``/ui`` (behind the key, like every route)."""
    ui_keep_s: float = 86400.0
    """Seconds of the log the web view keeps in memory (and shows): it reads from
    about that long ago and forgets what falls out of the window while it follows."""

    def __post_init__(self) -> None:
        problems = _range_problems(self)
        problems.extend(_key_problems(self))
        if problems:
            raise ServeSettingsError("; ".join(problems))
        register_secret(self.api_key)  # masked by value in every sink from now on

    def __repr__(self) -> str:
        shown = "None" if self.api_key is None else "'[redacted]'"
        return (
            f"ServeSettings(host={self.host!r}, port={self.port}, api_key={shown}, "
            f"max_body_bytes={self.max_body_bytes}, max_tokens_cap={self.max_tokens_cap}, "
            f"max_messages={self.max_messages}, max_message_chars={self.max_message_chars}, "
            f"request_timeout={self.request_timeout}, max_concurrency={self.max_concurrency}, "
            f"max_connections={self.max_connections}, "
            f"max_connections_per_client={self.max_connections_per_client}, "
            f"header_timeout={self.header_timeout}, "
            f"keep_alive_timeout={self.keep_alive_timeout}, ui={self.ui}, "
            f"ui_keep_s={self.ui_keep_s})"
        )

    __str__ = __repr__

    @property
    def url(self) -> str:
        """``http://host:port`` as configured (the port may be 0 before binding)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine.

    ``localhost`` and literal loopback addresses (127.0.0.0/8, ::1) count; any other
    name is treated as reachable from elsewhere, since it may resolve to anything.
    """
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _range_problems(s: ServeSettings) -> list[str]:
    problems = []
    if not s.host:
        problems.append("host is empty; use 127.0.0.1 (the default)")
    if not 0 <= s.port <= 65535:
        problems.append(f"port must be 0..65535, got {s.port}")
    for name in (
        "max_body_bytes",
        "max_tokens_cap",
        "max_messages",
        "max_message_chars",
        "max_concurrency",
        "max_connections",
        "max_connections_per_client",
    ):
        value = getattr(s, name)
        if isinstance(value, bool) or value < 1:
            problems.append(f"{name} must be an integer >= 1, got {value!r}")
    if not (math.isfinite(s.request_timeout) and s.request_timeout > 0):
        problems.append(f"request_timeout must be a number of seconds > 0, got {s.request_timeout}")
    if isinstance(s.ui_keep_s, bool) or not (math.isfinite(s.ui_keep_s) and s.ui_keep_s > 0):
        problems.append(f"ui_keep_s must be a number of seconds > 0, got {s.ui_keep_s}")
    if not (math.isfinite(s.header_timeout) and 0 < s.header_timeout <= 3600):
        problems.append(
            f"header_timeout must be a number of seconds in (0, 3600], got {s.header_timeout}"
        )
    keep = s.keep_alive_timeout
    if isinstance(keep, bool) or not (math.isfinite(keep) and 0 < keep <= 3600):
        problems.append(f"keep_alive_timeout must be a number of seconds in (0, 3600], got {keep}")
    return problems


def _key_problems(s: ServeSettings) -> list[str]:
    if s.api_key is None:
        if s.host and not is_loopback(s.host):
            return [
                f"refusing to listen on {s.host} without an API key: anyone who can reach "
                "it could use your backends; set a key (--api-key-env NAME or "
                "--api-key-file FILE) or listen on 127.0.0.1"
            ]
        return []
    if len(s.api_key) < MIN_KEY_LENGTH:
        return [
            f"the API key is too short ({len(s.api_key)} characters, at least "
            f"{MIN_KEY_LENGTH}); make one with: {_KEY_HINT}"
        ]
    if not (s.api_key.isascii() and s.api_key.isprintable()) or " " in s.api_key:
        return [
            "the API key must be printable ASCII without spaces (it is sent in an "
            f"Authorization header); make one with: {_KEY_HINT}"
        ]
    return []
