"""Every response the simulator gives validates against OpenAI's published schemas, and every limit
the real service enforces is refused with its status code, so the openai client raises the same class."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import numpy as np
import openai
import pytest

from persistlab.simulator import service
from persistlab.simulator.service import MAX_INPUT_TOKENS, MAX_INPUTS, MAX_REQUEST_TOKENS, SimulatorTransport
from persistlab.simulator.tokens import count_tokens

SCHEMAS = Path("/work/shared/openai-api/openai-schemas.json")
if not SCHEMAS.exists():  # a clone outside this machine keeps a copy beside the tests
    SCHEMAS = Path(__file__).parent / "data" / "openai-schemas.json"


def _nullable_to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0's ``nullable: true`` as JSON Schema: the type (or enum) also allows null."""
    if isinstance(node, list):
        return [_nullable_to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _nullable_to_json_schema(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable") is True:
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
        if "type" in out:
            out["type"] = [*(out["type"] if isinstance(out["type"], list) else [out["type"]]), "null"]
        elif "enum" not in out:  # a $ref or a combination: null or the schema
            out = {"anyOf": [out, {"type": "null"}]}
    return out


@pytest.fixture(scope="module")
def validate():
    document = _nullable_to_json_schema(json.loads(SCHEMAS.read_text()))
    validators: dict[str, jsonschema.Draft202012Validator] = {}

    def check(instance: Any, name: str) -> None:
        if name not in validators:
            validators[name] = jsonschema.Draft202012Validator({**document, "$ref": f"#/components/schemas/{name}"})
        validators[name].validate(instance)

    return check


def _decoded(payload: dict[str, Any]) -> dict[str, Any]:
    """An embeddings response with base64 vectors decoded to floats. The published schema describes
    only the float form (``embedding`` is an array); the SDK asks for base64 and decodes it so."""
    out = copy.deepcopy(payload)
    for row in out["data"]:
        if isinstance(row["embedding"], str):
            row["embedding"] = np.frombuffer(base64.b64decode(row["embedding"]), dtype="<f4").tolist()
    return out


@pytest.fixture(scope="module")
def http() -> httpx.Client:
    return httpx.Client(transport=SimulatorTransport(), base_url="https://sim.invalid/v1")


@pytest.fixture(scope="module")
def client() -> openai.OpenAI:
    return openai.OpenAI(
        api_key="sk-simulated",
        base_url="https://sim.invalid/v1",
        max_retries=0,
        http_client=httpx.Client(transport=SimulatorTransport()),
    )


def test_the_translation_makes_null_valid_only_where_the_schema_says_nullable(validate) -> None:
    chunk = {
        "id": "x",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": {}, "finish_reason": None}],
    }
    validate(chunk, "CreateChatCompletionStreamResponse")
    with pytest.raises(jsonschema.ValidationError):
        validate({**chunk, "model": None}, "CreateChatCompletionStreamResponse")


@pytest.mark.parametrize(
    "body",
    [
        {"model": "text-embedding-3-small", "input": ["salt cures ham", "ice"]},
        {"model": "text-embedding-3-small", "input": "salt cures ham", "encoding_format": "base64"},
        {"model": "text-embedding-3-large", "input": ["salt"], "dimensions": 256},
        {"model": "text-embedding-3-large", "input": ["salt"], "dimensions": 256, "encoding_format": "base64"},
        {"model": "text-embedding-ada-002", "input": ["salt"]},
    ],
    ids=["float", "base64", "dimensions", "dimensions-base64", "ada"],
)
def test_embedding_requests_and_responses_validate(validate, http, body) -> None:
    validate(body, "CreateEmbeddingRequest")
    response = http.post("/embeddings", json=body)
    assert response.status_code == 200
    payload = response.json()
    is_base64 = body.get("encoding_format") == "base64"
    assert all(isinstance(r["embedding"], str) == is_base64 for r in payload["data"])
    if is_base64:
        with pytest.raises(jsonschema.ValidationError, match="is not of type 'array'"):
            validate(payload, "CreateEmbeddingResponse")
    payload = _decoded(payload)
    validate(payload, "CreateEmbeddingResponse")
    size = body.get("dimensions") or service.EMBEDDING_DIMENSIONS[body["model"]]
    assert len(payload["data"][0]["embedding"]) == size


def test_chat_completion_validates_and_has_a_null_refusal(validate, http) -> None:
    body = {
        "model": "gpt-4o-mini",
        "messages": [
            {
                "role": "user",
                "content": "Context information is below.\n-----\nIce houses kept ice.\n-----\nQuery: ice?\nAnswer: ",
            }
        ],
    }
    payload = http.post("/chat/completions", json=body).json()
    validate(payload, "CreateChatCompletionResponse")
    assert payload["choices"][0]["message"]["refusal"] is None
    without_refusal = copy.deepcopy(payload)
    del without_refusal["choices"][0]["message"]["refusal"]
    with pytest.raises(jsonschema.ValidationError, match="refusal"):  # the schema requires it
        validate(without_refusal, "CreateChatCompletionResponse")


def test_every_streamed_chunk_validates_including_the_usage_chunk(validate, http) -> None:
    body = {
        "model": "gpt-4o-mini",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [
            {
                "role": "user",
                "content": "Context information is below.\n-----\nSalt cures ham. "
                "Ice keeps.\n-----\nQuery: salt?\nAnswer: ",
            }
        ],
    }
    raw = http.post("/chat/completions", json=body).text
    events = [line[len("data: ") :] for line in raw.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    for chunk in chunks:
        validate(chunk, "CreateChatCompletionStreamResponse")
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks[:-1]) == "Salt cures ham."


LONG = " ".join(["salt"] * 9000)  # 9000 tokens (one per word) > 8192
EDGE = " ".join(["salt"] * MAX_INPUT_TOKENS)  # exactly 8192 tokens

REFUSED = [  # (id, path, body, status, openai exception, code)
    (
        "too-long-input",
        "/embeddings",
        {"model": "text-embedding-3-small", "input": [LONG]},
        400,
        openai.BadRequestError,
        None,
    ),
    (
        "too-many-inputs",
        "/embeddings",
        {"model": "text-embedding-3-small", "input": ["x"] * (MAX_INPUTS + 1)},
        400,
        openai.BadRequestError,
        None,
    ),
    (
        "empty-string",
        "/embeddings",
        {"model": "text-embedding-3-small", "input": ""},
        400,
        openai.BadRequestError,
        None,
    ),
    (
        "empty-string-in-list",
        "/embeddings",
        {"model": "text-embedding-3-small", "input": ["a", ""]},
        400,
        openai.BadRequestError,
        None,
    ),
    ("empty-list", "/embeddings", {"model": "text-embedding-3-small", "input": []}, 400, openai.BadRequestError, None),
    (
        "request-over-300k-tokens",
        "/embeddings",
        {"model": "text-embedding-3-small", "input": [EDGE] * 37},
        400,
        openai.BadRequestError,
        "max_tokens_per_request",
    ),
    (
        "unknown-embedding-model",
        "/embeddings",
        {"model": "text-embedding-4", "input": "x"},
        404,
        openai.NotFoundError,
        "model_not_found",
    ),
    (
        "chat-model-for-embeddings",
        "/embeddings",
        {"model": "gpt-4o-mini", "input": "x"},
        403,
        openai.PermissionDeniedError,
        None,
    ),
    (
        "dimensions-on-ada",
        "/embeddings",
        {"model": "text-embedding-ada-002", "input": "x", "dimensions": 1536},
        400,
        openai.BadRequestError,
        None,
    ),
    (
        "dimensions-too-large",
        "/embeddings",
        {"model": "text-embedding-3-small", "input": "x", "dimensions": 1537},
        400,
        openai.BadRequestError,
        None,
    ),
    (
        "dimensions-zero",
        "/embeddings",
        {"model": "text-embedding-3-small", "input": "x", "dimensions": 0},
        400,
        openai.BadRequestError,
        None,
    ),
    (
        "unknown-chat-model",
        "/chat/completions",
        {"model": "gpt-5-turbo-max", "messages": [{"role": "user", "content": "x"}]},
        404,
        openai.NotFoundError,
        "model_not_found",
    ),
    (
        "embedding-model-for-chat",
        "/chat/completions",
        {"model": "text-embedding-3-small", "messages": [{"role": "user", "content": "x"}]},
        404,
        openai.NotFoundError,
        None,
    ),
    (
        "no-messages",
        "/chat/completions",
        {"model": "gpt-4o-mini", "messages": []},
        400,
        openai.BadRequestError,
        "empty_array",
    ),
]


@pytest.mark.parametrize(
    ("path", "body", "status", "exception", "code"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED]
)
def test_each_limit_gets_the_real_status_an_error_body_and_the_same_exception(
    validate, http, client, path, body, status, exception, code
) -> None:
    response = http.post(path, json=body)
    assert response.status_code == status
    validate(response.json(), "ErrorResponse")
    assert response.json()["error"]["code"] == code
    with pytest.raises(exception) as raised:
        if path == "/embeddings":
            client.embeddings.create(**body)
        else:
            client.chat.completions.create(**body)
    assert raised.value.status_code == status


def test_the_limits_themselves_are_accepted(http) -> None:
    assert count_tokens(EDGE) == MAX_INPUT_TOKENS
    assert http.post("/embeddings", json={"model": "text-embedding-3-small", "input": [EDGE]}).status_code == 200
    many = {"model": "text-embedding-3-small", "input": ["x"] * MAX_INPUTS, "encoding_format": "base64"}
    assert http.post("/embeddings", json=many).status_code == 200
    at_total = [EDGE] * (MAX_REQUEST_TOKENS // MAX_INPUT_TOKENS)  # 36 x 8192 = 294,912 tokens
    assert http.post("/embeddings", json={"model": "text-embedding-3-small", "input": at_total}).status_code == 200
    assert (
        http.post("/embeddings", json={"model": "text-embedding-3-small", "input": "x", "dimensions": 1536}).status_code
        == 200
    )


def test_the_messages_say_what_was_wrong(http) -> None:
    too_long = http.post("/embeddings", json={"model": "text-embedding-3-small", "input": ["ok", LONG]}).json()
    assert "maximum context length is 8192 tokens, however you requested 9000 tokens" in too_long["error"]["message"]
    total = http.post("/embeddings", json={"model": "text-embedding-3-small", "input": [EDGE] * 37}).json()
    assert total["error"]["message"] == f"Requested {37 * MAX_INPUT_TOKENS} tokens, max 300000 tokens per request"
    empty = http.post("/embeddings", json={"model": "text-embedding-3-small", "input": ["salt", ""]}).json()
    assert empty["error"]["message"].startswith("'$.input' is invalid.")  # an empty document's one chunk, sent as is
    unknown = http.post("/embeddings", json={"model": "text-embedding-4", "input": "x"}).json()
    assert unknown["error"]["message"] == "The model `text-embedding-4` does not exist or you do not have access to it."


def test_llamaindex_batches_by_count_not_by_tokens() -> None:
    """OpenAIEmbedding refuses embed_batch_size > 2048 itself, splits batches by count only, and passes
    the service's 400 through at once (it retries only rate limits, timeouts and server errors)."""
    import pydantic
    from llama_index.embeddings.openai import OpenAIEmbedding

    import persistlab

    with pytest.raises(pydantic.ValidationError, match="embed_batch_size"):
        OpenAIEmbedding(embed_batch_size=MAX_INPUTS + 1, api_key="sk-simulated")
    embed = persistlab.embedding_model(embed_batch_size=10)
    with persistlab.metered() as m:
        embed.get_text_embedding_batch([f"text {i}" for i in range(25)])
    assert (m.requests, m.texts) == (3, 25)
    # 10 texts of 8192 tokens fit the per-input limit, but 81,920 tokens per request would need
    # embed_batch_size <= 36 for 300,000 tokens; 40 of them in one batch are refused whole.
    big = persistlab.embedding_model(embed_batch_size=40)
    with persistlab.metered() as m, pytest.raises(openai.BadRequestError, match="max 300000 tokens per request"):
        big.get_text_embedding_batch([EDGE] * 40)
    assert (m.requests, m.failed_requests) == (0, 1)
    with persistlab.metered() as m, pytest.raises(openai.BadRequestError, match="maximum context length is 8192"):
        embed.get_text_embedding_batch(["short", LONG])
    assert (m.requests, m.failed_requests, m.retries) == (0, 1, 0)  # no retry of a 400
