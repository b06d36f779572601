"""Usage meter: embedding requests, texts, tokens and estimated dollars.

Every OpenAI client the course builds (simulated or real) reports each response here through
``httpx`` event hooks, so the figures mean the same thing offline and online. Read the running
total from :data:`usage`, or measure one block::

    with metered() as m:
        index = VectorStoreIndex.from_documents(docs)
    print(m.requests, m.texts, m.tokens, m.cost_usd)

``requests`` counts answered requests only. Requests that failed (an error status, a timeout, a
dropped connection) are counted apart, in ``failed_requests``, and so are ``retries``: requests the
``openai`` client sent again after a failure, as its ``x-stainless-retry-count`` header says.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from persistlab.config import SPEND_CAP_ENV
from persistlab.simulator.clock import skipped_seconds
from persistlab.simulator.endpoints import CHAT, EMBEDDINGS, request_kind

PRICES_PER_MILLION_TOKENS: dict[str, float] = {
    "text-embedding-3-small": 0.02,
    "text-embedding-3-large": 0.13,
    "text-embedding-ada-002": 0.10,
}
"""USD per 1M input tokens, standard (non-Batch) tier. Source: OpenAI's published API pricing
page (openai.com/api/pricing), as checked for this course in 2026. The Batch API costs half."""

CHAT_PRICES_PER_MILLION_TOKENS: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
}
"""USD per 1M (input, output) tokens, same source and date as above."""

PRICES_SOURCE = "OpenAI API pricing page (openai.com/api/pricing), checked 2026"


def embedding_cost(tokens: int, model: str) -> float:
    """Estimated USD cost of embedding ``tokens`` input tokens with ``model`` (0 if unknown)."""
    return tokens * PRICES_PER_MILLION_TOKENS.get(model, 0.0) / 1_000_000


@dataclass
class Usage:
    """Counts of API use. ``requests``, ``texts``, ``tokens`` and ``cost_usd`` are for embeddings.

    ``attempts`` counts every embeddings request sent, ``requests`` those answered successfully;
    ``failed_requests`` is the difference. ``retries`` counts the attempts the openai client marked
    as retries (``x-stainless-retry-count`` above 0; LlamaIndex's own outer retries start again at 0).
    A :func:`metered` block also sets ``wall_seconds`` and ``waited_seconds``, the retry waits that virtual
    time skipped (:mod:`persistlab.simulator.clock`); ``virtual_seconds`` is their sum.
    """

    attempts: int = 0
    retries: int = 0
    chat_attempts: int = 0
    chat_retries: int = 0
    requests: int = 0
    texts: int = 0
    tokens: int = 0
    cost_usd: float = 0.0
    chat_requests: int = 0
    chat_input_tokens: int = 0
    chat_output_tokens: int = 0
    chat_cost_usd: float = 0.0
    by_model: dict[str, dict[str, float]] = field(default_factory=dict)
    wall_seconds: float = 0.0
    waited_seconds: float = 0.0

    @property
    def virtual_seconds(self) -> float:
        """How long the block would have taken had every skipped wait been waited."""
        return self.wall_seconds + self.waited_seconds

    def add_embedding(self, model: str, texts: int, tokens: int) -> None:
        """Count one embeddings request (:func:`record_embedding` calls it for every open block)."""
        cost = embedding_cost(tokens, model)
        self.requests += 1
        self.texts += texts
        self.tokens += tokens
        self.cost_usd += cost
        row = self.by_model.setdefault(model, {"requests": 0, "texts": 0, "tokens": 0, "cost_usd": 0.0})
        row["requests"] += 1
        row["texts"] += texts
        row["tokens"] += tokens
        row["cost_usd"] += cost

    def add_chat(self, model: str, input_tokens: int, output_tokens: int) -> None:
        """Count one chat request (:func:`record_chat` calls it for every open block)."""
        price_in, price_out = CHAT_PRICES_PER_MILLION_TOKENS.get(model, (0.0, 0.0))
        self.chat_requests += 1
        self.chat_input_tokens += input_tokens
        self.chat_output_tokens += output_tokens
        self.chat_cost_usd += (input_tokens * price_in + output_tokens * price_out) / 1_000_000

    @property
    def failed_requests(self) -> int:
        """Embeddings requests sent that got no successful answer (error status, timeout, no connection)."""
        return max(0, self.attempts - self.requests)

    @property
    def chat_failed_requests(self) -> int:
        """Chat requests sent that got no successful answer."""
        return max(0, self.chat_attempts - self.chat_requests)

    def reset(self) -> None:
        """Set every count back to zero."""
        fresh = Usage()
        self.__dict__.update(fresh.__dict__)

    def summary(self) -> str:
        """One line a person can read, e.g. for a notebook's output; LLM use is added when there was any."""
        line = (
            f"embedding requests: {self.requests}, texts embedded: {self.texts}, "
            f"input tokens: {self.tokens}, estimated cost: ${self.cost_usd:.6f}"
        )
        if self.failed_requests or self.retries:
            line += f" (failed requests: {self.failed_requests}, retries: {self.retries})"
        if self.chat_requests or self.chat_attempts:
            line += (
                f"; LLM requests: {self.chat_requests}, tokens in/out: {self.chat_input_tokens}/"
                f"{self.chat_output_tokens}, estimated cost: ${self.chat_cost_usd:.6f}"
            )
            if self.chat_failed_requests or self.chat_retries:
                line += f" (failed LLM requests: {self.chat_failed_requests}, retries: {self.chat_retries})"
        return line

    def __str__(self) -> str:
        return self.summary()


usage = Usage()
"""Everything used since the process started (or since ``usage.reset()``)."""

_lock = threading.Lock()
_scopes: list[Usage] = []


@contextmanager
def metered() -> Iterator[Usage]:
    """Count only what happens inside the ``with`` block. Blocks may nest."""
    scope = Usage()
    started, skipped = time.perf_counter(), skipped_seconds()
    with _lock:
        _scopes.append(scope)
    try:
        yield scope
    finally:
        with _lock:  # by identity: two blocks that counted the same requests compare equal
            _scopes[:] = [open_scope for open_scope in _scopes if open_scope is not scope]
        scope.wall_seconds = time.perf_counter() - started
        scope.waited_seconds = skipped_seconds() - skipped


def record_embedding(model: str, texts: int, tokens: int) -> None:
    """Add one embeddings request to the global total and to every open :func:`metered` block."""
    with _lock:
        for target in (usage, *_scopes):
            target.add_embedding(model, texts, tokens)


def record_chat(model: str, input_tokens: int, output_tokens: int) -> None:
    """Add one chat request to the global total and to every open :func:`metered` block."""
    with _lock:
        for target in (usage, *_scopes):
            target.add_chat(model, input_tokens, output_tokens)


def record_attempt(kind: str, retry: bool) -> None:
    """Add one request sent (``kind`` "embedding" or "chat"; ``retry`` if the client re-sent it)."""
    with _lock:
        for target in (usage, *_scopes):
            if kind == EMBEDDINGS:
                target.attempts += 1
                target.retries += retry
            else:
                target.chat_attempts += 1
                target.chat_retries += retry


class SpendCapReached(BaseException):
    """A request would exceed ``PERSISTLAB_SPEND_CAP_USD``. A ``BaseException``, like
    ``KeyboardInterrupt``, so that no client retries it and no ``except Exception`` hides it."""


def estimated_cost(request: httpx.Request, kind: str) -> float:
    """Upper estimate in USD of one request, before it is sent (chat output counted as its max_tokens or 1,000)."""
    from persistlab.simulator.tokens import count_tokens

    try:
        sent: dict[str, Any] = json.loads(request.content or b"{}")
    except (json.JSONDecodeError, httpx.RequestNotRead):
        return 0.0
    model = str(sent.get("model", ""))
    if kind == EMBEDDINGS:
        texts = sent.get("input")
        texts = [texts] if isinstance(texts, str) else [t for t in texts or [] if isinstance(t, str)]
        return embedding_cost(sum(count_tokens(t, model) for t in texts), model)
    price_in, price_out = CHAT_PRICES_PER_MILLION_TOKENS.get(model, (0.0, 0.0))
    prompt = sum(
        count_tokens(str(m.get("content", "")), model) for m in sent.get("messages") or [] if isinstance(m, dict)
    )
    output = int(sent.get("max_completion_tokens") or sent.get("max_tokens") or 1000)
    return (prompt * price_in + output * price_out) / 1_000_000


def _check_spend_cap(request: httpx.Request, kind: str) -> None:
    cap = os.environ.get(SPEND_CAP_ENV)
    if not cap:
        return
    spent = usage.cost_usd + usage.chat_cost_usd
    estimate = estimated_cost(request, kind)
    if spent + estimate > float(cap):
        raise SpendCapReached(
            f"Not sent: this {kind} request (about ${estimate:.6f}) would take the spend past the cap of "
            f"${float(cap):.6f} ({SPEND_CAP_ENV}); spent so far ${spent:.6f}."
        )


def _on_request(request: httpx.Request) -> None:
    kind = request_kind(request)
    if kind is not None:
        _check_spend_cap(request, kind)
        try:
            retry = int(request.headers.get("x-stainless-retry-count", "0")) > 0
        except ValueError:
            retry = False
        record_attempt(kind, retry)


async def _on_request_async(request: httpx.Request) -> None:
    _on_request(request)


def _observe(request: httpx.Request, response: httpx.Response, body: bytes | None) -> None:
    if request.method != "POST" or response.status_code >= 400:
        return
    try:
        sent: dict[str, Any] = json.loads(request.content or b"{}")
    except (json.JSONDecodeError, httpx.RequestNotRead):
        return
    kind = request_kind(request)
    received: dict[str, Any] = {}
    if body is not None:
        try:
            received = json.loads(body)
        except json.JSONDecodeError:
            received = {}
    reported = received.get("usage") or {}
    model = str(sent.get("model", ""))
    if kind == EMBEDDINGS:
        texts = sent.get("input")
        count = 1 if isinstance(texts, str) else len(texts or [])
        record_embedding(model, count, int(reported.get("prompt_tokens", 0)))
    elif kind == CHAT:
        record_chat(model, int(reported.get("prompt_tokens", 0)), int(reported.get("completion_tokens", 0)))


def _wants_body(response: httpx.Response) -> bool:
    return not response.headers.get("content-type", "").startswith("text/event-stream")


def _on_response(response: httpx.Response) -> None:
    body = response.read() if _wants_body(response) else None
    _observe(response.request, response, body)


async def _on_response_async(response: httpx.Response) -> None:
    body = await response.aread() if _wants_body(response) else None
    _observe(response.request, response, body)


def event_hooks() -> dict[str, list[Any]]:
    """``event_hooks=`` for an ``httpx.Client`` whose OpenAI traffic should be metered."""
    return {"request": [_on_request], "response": [_on_response]}


def async_event_hooks() -> dict[str, list[Any]]:
    """``event_hooks=`` for an ``httpx.AsyncClient`` whose OpenAI traffic should be metered."""
    return {"request": [_on_request_async], "response": [_on_response_async]}
