"""Lesson 10's checkpointed build, driven from the lesson itself: a failure costs only the failed batch."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest
from llama_index.core.node_parser import SentenceSplitter

import persistlab
from persistlab.grading.consistency import check_consistent
from persistlab.learning.corpus import load_documents
from persistlab.simulator import faults
from tests.notebook_recipes import recipes

LESSON = Path(__file__).resolve().parents[1] / "lessons" / "10_when_embedding_fails.ipynb"


def test_a_failed_build_resumes_from_its_checkpoint_and_pays_only_the_rest(tmp_path: Path) -> None:
    build_with_checkpoints = recipes(LESSON)["build_with_checkpoints"]
    documents = load_documents()[:12]
    model = persistlab.embedding_model(embed_batch_size=10, max_retries=0)
    with (
        faults.inject("server_error", on=[2]),
        persistlab.metered() as first,
        pytest.raises(openai.InternalServerError),
    ):
        build_with_checkpoints(documents, tmp_path, model, batch_size=4)
    assert (first.requests, first.texts, first.failed_requests) == (1, 4, 1)
    with persistlab.metered() as resumed:
        index = build_with_checkpoints(documents, tmp_path, model, batch_size=4)
    assert (resumed.requests, resumed.texts) == (2, 8)  # the 4 saved documents are not embedded again
    check_consistent(index, documents, splitter=SentenceSplitter())  # the recipe's splitter; hashes included
    with persistlab.metered() as again:
        build_with_checkpoints(documents, tmp_path, model, batch_size=4)
    assert again.requests == 0
    with persistlab.metered() as refresh:
        assert not any(index.refresh_ref_docs(documents))  # the hashes refresh_ref_docs needs are there
    assert refresh.requests == 0
