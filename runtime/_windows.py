"""The catalog's context-window discovery, wired to the endpoints' transports.

After each model list it fetches, the catalog asks the endpoint for its models'
context windows (``actors.endpoint.fetch_context_lengths``):

* OpenAI-compatible endpoints: llama.cpp's ``GET /props`` (``n_ctx`` of one slot, what
  the server checks a request against). A server answering it with a 4xx is not asked
  again by this process.
* Ollama endpoints: nothing, on purpose (``ASK_OLLAMA``). What Ollama runs a model
  with is its ``num_ctx``: the call's ``options.num_ctx`` (or the model's configured
  one), else a server default (2048 or 4096 by version, or ``OLLAMA_CONTEXT_LENGTH``)
  that no API reports. ``/api/show`` only gives the training context (e.g. 131072),
  which Ollama never enforces with an error (it truncates the prompt instead), so a
  check against it would almost never fire while costing one request per model per
  refresh. Set ``context_length`` (or ``options.num_ctx``) on an Ollama model instead.
"""

from __future__ import annotations

from collections.abc import Mapping

from actors.catalog import FetchWindows, match_key
from actors.endpoint import EndpointTransport, fetch_context_lengths
from events import get_logger
from runtime._config import RuntimeConfig

__all__ = ["ASK_OLLAMA", "windows_fetcher"]

ASK_OLLAMA = False
"""Whether Ollama endpoints are asked ``/api/show`` for their models' windows (see the
module docstring for why not)."""

log = get_logger(__name__)


def windows_fetcher(
    config: RuntimeConfig, transports: Mapping[str, EndpointTransport]
) -> FetchWindows:
    """The catalog's ``fetch_windows`` for these endpoints."""
    configured: dict[str, set[str]] = {}
    for model in config.models:
        for endpoint in model.deployments:
            configured.setdefault(endpoint, set()).add(match_key(model.name))

    no_props: set[str] = set()  # endpoints that answered /props with a 4xx

    async def fetch_windows(endpoint: str, models: tuple[str, ...]) -> dict[str, int]:
        wanted = configured.get(endpoint, set())
        ordered = sorted(models, key=lambda m: match_key(m) not in wanted)  # stable
        props = endpoint not in no_props
        found = await fetch_context_lengths(
            transports[endpoint], ordered, props=props, show=ASK_OLLAMA
        )
        if not found.props:
            no_props.add(endpoint)
        log.debug("catalog.windows", endpoint=endpoint, known=len(found.lengths))
        return found.lengths

    return fetch_windows
