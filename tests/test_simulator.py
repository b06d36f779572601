"""The offline OpenAI simulator: deterministic, right dimensions, one vector space per model."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import httpx
import numpy as np
import pytest

from persistlab.simulator import service
from persistlab.simulator.service import EMBEDDING_DIMENSIONS, embed_vectors
from persistlab.simulator.text import NO_CONTEXT_ANSWER, extractive_answer

TEXTS = [
    "Salt draws water out of fish, so bacteria cannot grow.",
    "Smoke dries the surface of meat and leaves antimicrobial compounds behind.",
    "Canning seals food in jars and heats it to kill microbes.",
]


@pytest.mark.parametrize("model", sorted(EMBEDDING_DIMENSIONS))
def test_each_model_has_its_real_dimension_and_unit_vectors(model: str) -> None:
    vectors = embed_vectors(TEXTS, model)
    assert vectors.shape == (3, EMBEDDING_DIMENSIONS[model])
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)


def test_same_text_same_vector_within_a_process() -> None:
    np.testing.assert_array_equal(
        embed_vectors(TEXTS, "text-embedding-3-small"), embed_vectors(TEXTS, "text-embedding-3-small")
    )


def test_same_vector_in_another_process_with_another_hash_seed() -> None:
    code = (
        "import sys, json; from persistlab.simulator.service import embed_vectors; "
        "print(json.dumps(embed_vectors(json.loads(sys.argv[1]), 'text-embedding-ada-002').tolist()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(TEXTS)],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "123", "PATH": ""},
    ).stdout
    np.testing.assert_array_equal(
        np.array(json.loads(out), dtype=np.float32), embed_vectors(TEXTS, "text-embedding-ada-002")
    )


def test_lexical_neighbours_are_closest() -> None:
    docs = embed_vectors(TEXTS, "text-embedding-3-small")
    query = embed_vectors(["Why does salting fish stop bacteria?"], "text-embedding-3-small")[0]
    scores = docs @ query
    assert scores.argmax() == 0
    assert scores[0] > 0.2 > max(scores[1:])


def test_models_of_the_same_dimension_are_unrelated() -> None:
    small = embed_vectors(TEXTS, "text-embedding-3-small")
    ada = embed_vectors(TEXTS, "text-embedding-ada-002")
    assert small.shape == ada.shape
    cross = np.abs(np.sum(small * ada, axis=1))
    assert cross.max() < 0.1, cross
    # Mixing them breaks retrieval: an ada query against 3-small documents ranks by noise.
    within = small @ embed_vectors(["salt fish bacteria"], "text-embedding-3-small")[0]
    mixed = small @ embed_vectors(["salt fish bacteria"], "text-embedding-ada-002")[0]
    assert within[0] > 0.3 and abs(mixed[0]) < 0.1


def test_dimensions_truncates_and_renormalises_like_the_api() -> None:
    full = embed_vectors(TEXTS, "text-embedding-3-large")
    short = embed_vectors(TEXTS, "text-embedding-3-large", dimensions=256)
    assert short.shape == (3, 256)
    expected = full[:, :256] / np.linalg.norm(full[:, :256], axis=1, keepdims=True)
    np.testing.assert_allclose(short, expected, rtol=1e-5, atol=1e-6)


def test_bad_model_and_bad_dimensions_are_refused_with_the_fix() -> None:
    with pytest.raises(ValueError, match="choose one of text-embedding-3-large"):
        embed_vectors(["x"], "text-embedding-4")
    with pytest.raises(ValueError, match="works only for text-embedding-3"):
        embed_vectors(["x"], "text-embedding-ada-002", dimensions=256)
    with pytest.raises(ValueError, match="out of range"):
        embed_vectors(["x"], "text-embedding-3-small", dimensions=5000)


def test_empty_text_still_gets_a_unit_vector() -> None:
    vec = embed_vectors(["", "the of and"], "text-embedding-3-small")
    np.testing.assert_allclose(np.linalg.norm(vec, axis=1), 1.0, rtol=1e-5)


def test_wire_format_base64_and_float_agree() -> None:
    client = httpx.Client(transport=service.SimulatorTransport(), base_url="https://sim.invalid/v1")
    body = {"model": "text-embedding-3-small", "input": TEXTS[:2]}
    as_float = client.post("/embeddings", json=body).json()
    as_b64 = client.post("/embeddings", json={**body, "encoding_format": "base64"}).json()
    decoded = np.frombuffer(base64.b64decode(as_b64["data"][1]["embedding"]), dtype="<f4")
    np.testing.assert_allclose(decoded, as_float["data"][1]["embedding"], rtol=1e-6)
    assert as_float["usage"]["prompt_tokens"] > 10
    assert client.post("/embeddings", json={"model": "nope", "input": "x"}).status_code == 404
    assert client.post("/files", json={}).status_code == 404


def test_chat_answers_only_from_the_context() -> None:
    prompt = (
        "Context information is below.\n---------------------\n"
        "file_name: canning.md\n\nCanning seals food in jars. Nicolas Appert won a prize for it in 1810.\n"
        "---------------------\nGiven the context information and not prior knowledge, answer the query.\n"
        "Query: Who won a prize for canning?\nAnswer: "
    )
    assert extractive_answer(prompt) == "Nicolas Appert won a prize for it in 1810."
    assert extractive_answer("What is the capital of France?") == NO_CONTEXT_ANSWER


def test_vectors_are_dense_like_real_embeddings() -> None:
    vectors = embed_vectors(["salt", TEXTS[0]], "text-embedding-3-small")
    assert np.mean(vectors == 0) < 0.01
