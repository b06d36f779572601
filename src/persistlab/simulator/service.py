"""A deterministic, in-process stand-in for the OpenAI HTTP API.

The course's notebooks use the real ``OpenAIEmbedding`` and ``OpenAI`` classes. Offline, their
HTTP clients are given :class:`SimulatorTransport`, an ``httpx`` transport that answers
``POST /embeddings`` and ``POST /chat/completions`` in the OpenAI wire format without any socket.

Embeddings are lexical: words, word pairs and character trigrams are hashed into the model's
real dimension, spread by an orthonormal transform so that every component is non-zero (as real
embeddings are; inner products are unchanged), and L2-normalised. Texts that share words are
close, so retrieval over real text behaves sensibly. Each model hashes with its own seed, so two models of the same
dimension give unrelated vectors, as real models do. ``text-embedding-3-*`` honour ``dimensions=``
the way the real API does: truncate the full vector, then renormalise.

The chat model answers extractively: it returns the context sentence that best matches the query
and never invents text.

Requests the real service refuses are refused here with the same status code and error body, so
the ``openai`` client raises the same exception class (see :func:`handle`). Which messages were
checked against errors the real service sent is said next to each one.
"""

from __future__ import annotations

import base64
import json
import math
import re
import zlib
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

import httpx
import numpy as np

from persistlab.simulator.endpoints import CHAT, EMBEDDINGS, request_kind
from persistlab.simulator.errors import API_REFERENCE as _API_REFERENCE
from persistlab.simulator.errors import (
    ApiError,
)
from persistlab.simulator.errors import (
    error_response as _error,
)
from persistlab.simulator.errors import (
    json_response as _json_response,
)
from persistlab.simulator.errors import (
    model_not_found as _model_not_found,
)
from persistlab.simulator.text import extractive_answer, text_words
from persistlab.simulator.tokens import count_tokens

EMBEDDING_DIMENSIONS: dict[str, int] = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
"""Native output size of each embedding model the simulator (and the course) supports."""

REDUCIBLE_MODELS = frozenset({"text-embedding-3-small", "text-embedding-3-large"})
"""Models whose output can be shortened with ``dimensions=``."""

CHAT_MODELS = frozenset({"gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "gpt-4.1", "gpt-4.1-nano", "gpt-3.5-turbo"})
"""Chat models the simulator answers for; any other name gets the real service's 404 ``model_not_found``."""

MAX_INPUT_TOKENS = 8192
"""Most tokens one embedding input may have (``CreateEmbeddingRequest.input`` in OpenAI's API description)."""
MAX_INPUTS = 2048
"""Most inputs one embeddings request may carry."""
MAX_REQUEST_TOKENS = 300_000
"""Most tokens summed over the inputs of one embeddings request."""


def _features(text: str) -> dict[str, float]:
    """Weighted lexical features of ``text``: words, adjacent word pairs, character trigrams."""
    words = text_words(text)
    feats: dict[str, float] = {}
    for w in words:
        feats["w:" + w] = feats.get("w:" + w, 0.0) + 1.0
        padded = f"<{w}>"
        for i in range(len(padded) - 2):
            key = "c:" + padded[i : i + 3]
            feats[key] = feats.get(key, 0.0) + 0.25
    for a, b in zip(words, words[1:]):
        key = f"b:{a} {b}"
        feats[key] = feats.get(key, 0.0) + 0.5
    return feats


@lru_cache(maxsize=16)
def _model_seed(model: str, seed: int = 0) -> int:
    return zlib.crc32(("persistlab-sim:" + model + (f":{seed}" if seed else "")).encode())


@lru_cache(maxsize=500_000)
def _slot(seed: int, feature: str, dim: int) -> tuple[int, float]:
    h = zlib.crc32(feature.encode(), seed)
    h = (h * 2654435761) & 0xFFFFFFFF  # spread crc32's linear structure
    return h % dim, (1.0 if (h >> 31) & 1 else -1.0)


def check_model(model: str, dimensions: int | None = None) -> int:
    """The length of ``model``'s vectors with ``dimensions``; ``ValueError`` naming the fix if impossible.

    The one check of a model name and size: the simulator's vectors, :func:`persistlab.embedding_model`
    and the grading models all use it.
    """
    if model not in EMBEDDING_DIMENSIONS:
        raise ValueError(
            f"Unsupported embedding model {model!r}; choose one of {', '.join(sorted(EMBEDDING_DIMENSIONS))}."
        )
    full = EMBEDDING_DIMENSIONS[model]
    if dimensions is None:
        return full
    if model not in REDUCIBLE_MODELS:
        raise ValueError(f"{model} has a fixed size of {full}; dimensions= works only for text-embedding-3-*.")
    if not 1 <= dimensions <= full:
        raise ValueError(f"dimensions={dimensions} is out of range for {model} (1..{full}).")
    return dimensions


def _spread(matrix: np.ndarray) -> np.ndarray:
    """Orthonormal real Fourier transform of each row: dense output, same inner products."""
    n = matrix.shape[1]
    spectrum = np.fft.rfft(matrix.astype(np.float64), axis=1) / np.sqrt(n)
    out = np.empty(matrix.shape, dtype=np.float64)
    out[:, 0] = spectrum[:, 0].real
    m = (n - 1) // 2
    out[:, 1 : 2 * m + 1 : 2] = np.sqrt(2) * spectrum[:, 1 : m + 1].real
    out[:, 2 : 2 * m + 1 : 2] = np.sqrt(2) * spectrum[:, 1 : m + 1].imag
    if n % 2 == 0:
        out[:, n - 1] = spectrum[:, n // 2].real
    return out


def embed_vectors(texts: Iterable[str], model: str, dimensions: int | None = None, seed: int = 0) -> np.ndarray:
    """Embed ``texts`` as ``model`` would, shape ``(len(texts), dim)``, float32, unit length.

    Deterministic across runs and processes. A non-zero ``seed`` gives every model a different,
    equally good vector space (a served simulator's ``--seed``). Raises ``ValueError`` for an
    unknown model or an impossible ``dimensions``.
    """
    out_dim = check_model(model, dimensions)
    full = EMBEDDING_DIMENSIONS[model]
    seed = _model_seed(model, seed)
    texts = list(texts)
    matrix = np.zeros((len(texts), full), dtype=np.float32)
    for row, text in enumerate(texts):
        vec = matrix[row]
        for feature, weight in _features(text).items():
            index, sign = _slot(seed, feature, full)
            vec[index] += sign * (1.0 + math.log(weight) if weight >= 1 else weight)
        if not vec.any():  # empty or stopword-only text: a fixed, model-specific direction
            vec[_slot(seed, "<empty>", full)[0]] = 1.0
    return unit_rows(_spread(matrix)[:, :out_dim])


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Each row scaled to length 1 (all-zero rows left as they are), as float32."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (matrix / norms).astype(np.float32)


Vectors = Callable[[list[str], str, "int | None"], np.ndarray]
"""``(texts, model, dimensions) -> matrix``: the vectors an embeddings request is answered with."""


# --- HTTP transport -------------------------------------------------------------------------


def _embedding_request(body: dict[str, Any]) -> tuple[str, list[str], int | None, int]:
    """Check an embeddings request as the real service does; return (model, texts, dimensions, tokens)."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        # Not confirmed against the real service (wording of OpenAI's other missing-parameter errors).
        raise ApiError(400, "you must provide a model parameter", param="model")
    if model in CHAT_MODELS:
        # Confirmed: 403 (PermissionDeniedError) for a chat model on /embeddings.
        raise ApiError(403, "You are not allowed to generate embeddings from this model")
    if model not in EMBEDDING_DIMENSIONS:
        raise _model_not_found(model)
    dimensions = body.get("dimensions")
    if dimensions is not None:
        if model not in REDUCIBLE_MODELS:
            # Confirmed: text-embedding-ada-002 with dimensions= (even its own 1536).
            raise ApiError(400, "This model does not support specifying dimensions.")
        full = EMBEDDING_DIMENSIONS[model]
        if not isinstance(dimensions, int) or isinstance(dimensions, bool) or not 1 <= dimensions <= full:
            # Not confirmed against the real service: its wording for this case was not found; the status is.
            raise ApiError(
                400,
                f"Invalid value for 'dimensions' = {dimensions}. It must be between 1 and {full} for {model}.",
                param="dimensions",
            )
    texts = body.get("input")
    if isinstance(texts, str):
        texts = [texts]
    invalid_input = ApiError(400, f"'$.input' is invalid. {_API_REFERENCE}")
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        # Token arrays are valid for the real service but not simulated.
        raise ApiError(400, "input must be a string or a list of strings (token arrays are not simulated).")
    # Confirmed for an empty string and for a list holding one. Not confirmed: an empty list and more
    # than 2048 inputs (reported with the same '$.input' wording, the second with a longer message).
    if not texts or len(texts) > MAX_INPUTS or any(t == "" for t in texts):
        raise invalid_input
    total = 0
    for text in texts:
        tokens = count_tokens(text, model)
        if tokens > MAX_INPUT_TOKENS:
            # Confirmed: the real service's message for an input over the model's 8192 tokens.
            raise ApiError(
                400,
                f"This model's maximum context length is {MAX_INPUT_TOKENS} tokens, however you "
                f"requested {tokens} tokens ({tokens} in your prompt; 0 for the completion). "
                "Please reduce your prompt; or completion length.",
            )
        total += tokens
    if total > MAX_REQUEST_TOKENS:
        # Confirmed: message, type and code of the per-request total limit.
        raise ApiError(
            400,
            f"Requested {total} tokens, max {MAX_REQUEST_TOKENS} tokens per request",
            kind="max_tokens_per_request",
            code="max_tokens_per_request",
        )
    return model, texts, dimensions, total


def _embeddings(body: dict[str, Any], seed: int = 0, vectors: Vectors | None = None) -> httpx.Response:
    model, texts, dimensions, tokens = _embedding_request(body)
    matrix = vectors(texts, model, dimensions) if vectors else embed_vectors(texts, model, dimensions, seed)
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    for i, row in enumerate(matrix):
        if as_base64:
            embedding: Any = base64.b64encode(row.astype("<f4").tobytes()).decode()
        else:
            embedding = [float(x) for x in row]
        data.append({"object": "embedding", "index": i, "embedding": embedding})
    return _json_response(
        {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
    )


def _prompt_of(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):  # content parts
                return "\n".join(p.get("text", "") for p in content if isinstance(p, dict))
            return str(content or "")
    return ""


def _chat_request(body: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """Check a chat completions request as the real service does; return (model, messages)."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        # Not confirmed against the real service.
        raise ApiError(400, "Missing required parameter: 'model'.", param="model", code="missing_required_parameter")
    if model in EMBEDDING_DIMENSIONS:
        # Not confirmed against the real service: status and wording as remembered, not found in reports.
        raise ApiError(
            404, "This is not a chat model and thus not supported in the v1/chat/completions endpoint.", param="model"
        )
    if model not in CHAT_MODELS:
        raise _model_not_found(model)
    if "messages" not in body:
        # Not confirmed against the real service.
        raise ApiError(
            400, "Missing required parameter: 'messages'.", param="messages", code="missing_required_parameter"
        )
    messages = body["messages"]
    if isinstance(messages, list) and not messages:
        # Confirmed: message, param and code for an empty messages list.
        raise ApiError(
            400,
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
            param="messages",
            code="empty_array",
        )
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise ApiError(
            400, f"Invalid type for 'messages': expected an array of objects. {_API_REFERENCE}", param="messages"
        )
    return model, messages


def _chat(body: dict[str, Any]) -> httpx.Response:
    model, messages = _chat_request(body)
    answer = extractive_answer(_prompt_of(messages))
    prompt_tokens = sum(count_tokens(str(m.get("content", "")), model) for m in messages)
    completion_tokens = count_tokens(answer, model)
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    base = {"id": "chatcmpl-simulated", "created": 0, "model": model, "system_fingerprint": "simulated"}
    if not body.get("stream"):
        choice = {
            "index": 0,
            "message": {"role": "assistant", "content": answer, "refusal": None},
            "finish_reason": "stop",
            "logprobs": None,
        }
        return _json_response({**base, "object": "chat.completion", "choices": [choice], "usage": usage})

    def chunk(delta: dict[str, Any], finish: str | None) -> bytes:
        payload = {
            **base,
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }
        return f"data: {json.dumps(payload)}\n\n".encode()

    pieces = re.findall(r"\S+\s*", answer)
    events = [chunk({"role": "assistant", "content": ""}, None)]
    events += [chunk({"content": p}, None) for p in pieces]
    events.append(chunk({}, "stop"))
    if (body.get("stream_options") or {}).get("include_usage"):
        events.append(
            f"data: {json.dumps({**base, 'object': 'chat.completion.chunk', 'choices': [], 'usage': usage})}\n\n".encode()
        )
    events.append(b"data: [DONE]\n\n")
    return httpx.Response(200, content=b"".join(events), headers={"content-type": "text/event-stream"})


def handle(request: httpx.Request, seed: int = 0, vectors: Vectors | None = None) -> httpx.Response:
    """Answer one OpenAI API request the way the real service would, but offline.

    Refused requests get the real service's status code and ``{"error": {...}}`` body. This
    function never injects faults (:mod:`persistlab.simulator.faults` does that in the transports).
    ``seed`` changes every embedding vector (see :func:`embed_vectors`); ``vectors``, if given,
    computes them instead (called only for a valid request).
    """
    if request.method != "POST":
        return _error(404, f"The simulator does not serve {request.method} {request.url.path}.")
    try:
        body = json.loads(request.content or b"{}")
    except json.JSONDecodeError:
        return _error(400, "We could not parse the JSON body of your request.")
    if not isinstance(body, dict):
        return _error(400, "We could not parse the JSON body of your request.")
    path = request.url.path.rstrip("/")
    try:
        if request_kind(request) == EMBEDDINGS:
            return _embeddings(body, seed, vectors)
        if request_kind(request) == CHAT:
            return _chat(body)
    except ApiError as refused:
        return refused.response()
    return _error(404, f"The simulator does not serve {path}; it answers /embeddings and /chat/completions.")


Intercept = Callable[[httpx.Request], "httpx.Response | None"]
"""Called before the simulator answers: a response to send instead, or None (may raise httpx errors)."""


class SimulatorTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """An ``httpx`` transport (sync and async) that answers OpenAI requests in process.

    ``intercept`` (e.g. :func:`persistlab.simulator.faults.intercept`) may answer a request first, with an
    error response or by raising ``httpx.TimeoutException``, to simulate a failing service.
    """

    def __init__(self, intercept: Intercept | None = None) -> None:
        self._intercept = intercept

    def _answer(self, request: httpx.Request) -> httpx.Response:
        if self._intercept is not None:
            replaced = self._intercept(request)
            if replaced is not None:
                return replaced
        return handle(request)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        return self._answer(request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        return self._answer(request)
