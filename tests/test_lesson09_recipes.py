"""Lesson 09's recipes, driven from the lesson itself: a failed build, resumed, pays only for what failed, and a
build into Chroma can fail at any request and be run again without leaving duplicates."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import chromadb
import openai
import pytest
from llama_index.core import Document, StorageContext, VectorStoreIndex
from llama_index.core.node_parser import SentenceSplitter
from llama_index.vector_stores.chroma import ChromaVectorStore

import persistlab
from persistlab.grading.consistency import check_consistent
from persistlab.learning.corpus import load_documents
from persistlab.simulator import faults
from persistlab.stores import chroma_settings
from tests.notebook_recipes import recipes

LESSON = Path(__file__).resolve().parents[1] / "lessons" / "09_when_embedding_fails.ipynb"


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


def chroma_collection(path: Path, name: str = "corpus"):
    client = chromadb.PersistentClient(path=str(path), settings=chroma_settings())
    return client.get_or_create_collection(name)


def ref_doc_counts(collection) -> Counter[str]:
    return Counter(str(m["document_id"]) for m in collection.get(include=["metadatas"])["metadatas"])


@pytest.mark.parametrize("failing", [1, 2, 3, 4, 5])
def test_a_chroma_build_failed_at_any_request_reruns_without_duplicates(tmp_path: Path, failing: int) -> None:
    build_into_chroma = recipes(LESSON)["build_into_chroma"]
    documents = load_documents()[:44]
    collection = chroma_collection(tmp_path)
    model = persistlab.embedding_model(embed_batch_size=10, max_retries=0)
    batches = -(-len(documents) // 10)  # one chunk per document, 10 per request
    with (
        faults.inject("server_error", on=[failing]),
        persistlab.metered() as first,
        pytest.raises(openai.InternalServerError),
    ):
        build_into_chroma(documents, collection, model)
    assert first.requests == failing - 1 and collection.count() == 10 * (failing - 1)
    with persistlab.metered() as rerun:
        index = build_into_chroma(documents, collection, model)
    assert first.requests + rerun.requests == batches  # each batch paid for once
    check_consistent(index, documents, splitter=SentenceSplitter(), hashes=None)
    assert set(ref_doc_counts(collection).values()) == {1}

    edited = [documents[0], documents[-1]]
    current = [Document(id_=d.id_, text=d.text + " Edited.") if d in edited else d for d in documents]
    with persistlab.metered() as edit:
        index = build_into_chroma(current, collection, model)
    assert (edit.requests, edit.texts) == (1, 2)  # the two changed documents, nothing else
    check_consistent(index, current, splitter=SentenceSplitter(), hashes=None)


def test_the_naive_chroma_rerun_duplicates_what_the_failed_build_wrote(tmp_path: Path) -> None:
    # The failure the lesson shows, kept as a fixture: check_consistent must catch it.
    documents = load_documents()[:44]
    collection = chroma_collection(tmp_path)
    model = persistlab.embedding_model(embed_batch_size=10, max_retries=0)

    def build() -> VectorStoreIndex:
        context = StorageContext.from_defaults(vector_store=ChromaVectorStore(chroma_collection=collection))
        return VectorStoreIndex.from_documents(
            documents, storage_context=context, embed_model=model, insert_batch_size=10
        )

    with faults.inject("server_error", on=[3]), pytest.raises(openai.InternalServerError):
        build()
    assert collection.count() == 20
    index = build()
    assert collection.count() == 64 and max(ref_doc_counts(collection).values()) == 2
    with pytest.raises(AssertionError, match="holds 2 chunks, its current text makes 1"):
        check_consistent(index, documents, splitter=SentenceSplitter(), hashes=None)
