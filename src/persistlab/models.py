"""Which service the course's OpenAI classes talk to: the offline simulator or the real API.

Notebooks call :func:`setup` once. It sets ``Settings.embed_model`` and ``Settings.llm`` to the
real ``OpenAIEmbedding`` and ``OpenAI`` classes. Their HTTP clients (sync and async) go to the
in-process simulator unless ``PERSISTLAB_BACKEND=openai`` is set, in which case they go to the
real API with the key from ``OPENAI_API_KEY``. Every client is metered (see :mod:`persistlab.learning.meter`).
"""

from __future__ import annotations

import os
from typing import Any

import httpx
from llama_index.core import Settings
from llama_index.embeddings.openai import OpenAIEmbedding
from llama_index.llms.openai import OpenAI

from persistlab.config import BACKEND_ENV, OPENAI, OPENAI_API_BASE_ENV, OPENAI_API_KEY_ENV, SIMULATOR
from persistlab.learning import meter
from persistlab.simulator import faults
from persistlab.simulator.service import SimulatorTransport, check_model
from persistlab.simulator.tokens import use_bundled_encodings

SIMULATED_API_KEY = "sk-simulated-offline"
"""Placeholder key sent to the simulator. It is not a secret and opens nothing."""
SIMULATED_API_BASE = "https://simulated-openai.invalid/v1"
REAL_API_BASE = "https://api.openai.com"
DEFAULT_EMBED_MODEL = "text-embedding-3-small"
DEFAULT_CHAT_MODEL = "gpt-4o-mini"


class BackendConfigError(RuntimeError):
    """The environment asks for a backend that cannot be used as configured."""


def backend_name() -> str:
    """``"simulator"`` (the default) or ``"openai"``, from ``PERSISTLAB_BACKEND``."""
    name = os.environ.get(BACKEND_ENV, SIMULATOR).strip().lower() or SIMULATOR
    if name not in (SIMULATOR, OPENAI):
        raise BackendConfigError(
            f"{BACKEND_ENV}={name!r} is not a backend. Use {BACKEND_ENV}=simulator (offline, the default) "
            f"or {BACKEND_ENV}=openai (real API, needs OPENAI_API_KEY)."
        )
    return name


def connection() -> dict[str, Any]:
    """Keyword arguments that point an OpenAI class you build yourself at the chosen backend, with metered
    clients: ``OpenAIEmbedding(model=..., dimensions=..., **persistlab.connection())``. Outside the course
    leave them out: the class reads ``OPENAI_API_KEY`` from the environment and calls the real API."""
    if backend_name() == OPENAI:
        if not os.environ.get(OPENAI_API_KEY_ENV):
            raise BackendConfigError(
                f"{BACKEND_ENV}=openai needs an API key: set OPENAI_API_KEY in the environment "
                f"(export OPENAI_API_KEY=...) before starting Jupyter, or unset {BACKEND_ENV} to use the offline simulator."
            )
        return {
            "http_client": httpx.Client(event_hooks=meter.event_hooks()),
            "async_http_client": httpx.AsyncClient(event_hooks=meter.async_event_hooks()),
        }
    transport = SimulatorTransport(intercept=faults.intercept)
    return {
        "api_key": SIMULATED_API_KEY,
        "api_base": SIMULATED_API_BASE,
        "http_client": httpx.Client(transport=transport, event_hooks=meter.event_hooks()),
        "async_http_client": httpx.AsyncClient(transport=transport, event_hooks=meter.async_event_hooks()),
    }


def embedding_model(model: str = DEFAULT_EMBED_MODEL, dimensions: int | None = None, **kwargs: Any) -> OpenAIEmbedding:
    """A real ``OpenAIEmbedding`` for ``model`` wired to the current backend.

    ``model`` is one of text-embedding-3-small, text-embedding-3-large, text-embedding-ada-002;
    ``dimensions`` shortens text-embedding-3-* vectors as the real API does. Other keyword
    arguments go to ``OpenAIEmbedding`` (e.g. ``embed_batch_size``).
    """
    check_model(model, dimensions)
    use_bundled_encodings()
    return OpenAIEmbedding(model=model, dimensions=dimensions, **{**connection(), **kwargs})


def chat_model(model: str = DEFAULT_CHAT_MODEL, **kwargs: Any) -> OpenAI:
    """A real ``OpenAI`` LLM wired to the current backend (the simulator answers extractively)."""
    use_bundled_encodings()
    return OpenAI(model=model, temperature=0.0, **{**connection(), **kwargs})


def embedding_dimension(model: str, dimensions: int | None = None) -> int:
    """Length of the vectors ``model`` returns (``dimensions`` if given)."""
    return check_model(model, dimensions)


def api_base() -> str | None:
    """The server the ``openai`` backend talks to when ``OPENAI_API_BASE`` names one (None: the real API)."""
    base = os.environ.get(OPENAI_API_BASE_ENV, "").strip().rstrip("/")
    return None if not base or base.startswith(REAL_API_BASE) else base


def describe(embed_model: str = DEFAULT_EMBED_MODEL, llm: str = DEFAULT_CHAT_MODEL) -> str:
    """One line saying which backend (and server) and models are in use."""
    if backend_name() == SIMULATOR:
        where = "the offline simulator (no network, no key)"
    elif api_base() is None:
        where = "the real OpenAI API"
    else:
        where = f"the OpenAI-compatible server at {api_base()} (OPENAI_API_BASE)"
    return f"Backend: {where}; embeddings: {embed_model}; LLM: {llm}."


def setup(embed_model: str = DEFAULT_EMBED_MODEL, llm: str = DEFAULT_CHAT_MODEL, quiet: bool = False) -> None:
    """Configure LlamaIndex for this course and print which backend it uses (unless ``quiet``).

    Sets ``Settings.embed_model`` and ``Settings.llm``; makes tiktoken work offline; when
    ``PERSISTLAB_NETWORK_GUARD=1`` (as in CI) refuses any connection to a non-loopback address.
    """
    from persistlab.simulator.netguard import install_from_env

    install_from_env()
    use_bundled_encodings()
    Settings.embed_model = embedding_model(embed_model)
    Settings.llm = chat_model(llm)
    if not quiet:
        print(describe(embed_model, llm))
