"""check_consistent passes a correct index and names what disagrees in the two corruptions the course met:
the lesson-05 pipeline that shares the index's stores, and ``from_vector_store``'s empty docstore."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from histories import shared_stores_update
from llama_index.core import Document, Settings, StorageContext, VectorStoreIndex, load_index_from_storage
from llama_index.core.node_parser import SentenceSplitter

import persistlab
from persistlab.grading.consistency import check_consistent
from persistlab.stores import NumpyVectorStore

SPLITTER = SentenceSplitter(chunk_size=512, chunk_overlap=20)


@pytest.fixture(scope="module", autouse=True)
def simulator() -> None:
    persistlab.setup(quiet=True)


def docs(**texts: str) -> list[Document]:
    return [Document(id_=f"{name}.md", text=text, metadata={"file_name": f"{name}.md"}) for name, text in texts.items()]


FIRST = docs(garum="Garum is a fermented fish sauce of ancient Rome.", kimchi="Kimchi is fermented cabbage.")


def reload(folder: Path) -> VectorStoreIndex:
    return load_index_from_storage(
        StorageContext.from_defaults(persist_dir=str(folder)), embed_model=Settings.embed_model
    )


def test_a_correct_index_passes(tmp_path: Path) -> None:
    VectorStoreIndex.from_documents(FIRST, transformations=[SPLITTER]).storage_context.persist(str(tmp_path))
    index = reload(tmp_path)
    check_consistent(index, FIRST, splitter=SPLITTER)
    edited = docs(garum=FIRST[0].text + " Colatura di alici is its heir.", kimchi=FIRST[1].text)
    index.refresh_ref_docs(edited, transformations=[SPLITTER])
    check_consistent(index, edited, splitter=SPLITTER)
    with pytest.raises(AssertionError, match=r"garum.md: the index holds 1 chunks.*not from the current text"):
        check_consistent(index, FIRST, splitter=SPLITTER)  # the old texts are no longer what it holds


def test_shared_docstore_pipeline_is_caught(tmp_path: Path) -> None:
    shared_stores_update(FIRST, tmp_path, SPLITTER)
    with pytest.raises(
        AssertionError, match=r"docstore holds 4 entries: .* in the docstore only: 'garum.md', 'kimchi.md'"
    ):
        check_consistent(reload(tmp_path), FIRST, splitter=SPLITTER, hashes=None)  # the pipeline's Documents
    current = FIRST
    for extra in [" It was sold in amphorae.", " Pompeii had garum workshops."]:
        current = docs(garum=current[0].text + extra, kimchi=FIRST[1].text)
        shared_stores_update(current, tmp_path, SPLITTER)
    index = reload(tmp_path)
    with pytest.raises(AssertionError, match=r"the index lists 4 node ids but the vector store holds 2 vectors"):
        check_consistent(index, current, splitter=SPLITTER, hashes=None)
    with pytest.raises(ValueError, match=r"doc_id .* not found"):
        index.ref_doc_info  # noqa: B018 (the read raises) what a learner would meet


def test_from_vector_store_loses_the_document_hashes(tmp_path: Path) -> None:
    store = NumpyVectorStore()
    index = VectorStoreIndex.from_documents(
        FIRST, storage_context=StorageContext.from_defaults(vector_store=store), transformations=[SPLITTER]
    )
    check_consistent(index, FIRST, splitter=SPLITTER)  # from_documents kept each document's hash
    reopened = VectorStoreIndex.from_vector_store(store, embed_model=Settings.embed_model)
    check_consistent(reopened, FIRST, splitter=SPLITTER, hashes=None)  # the vectors and texts are all there
    with pytest.raises(AssertionError, match=re.escape("the index's docstore has no hash for document 'garum.md'")):
        check_consistent(reopened, FIRST, splitter=SPLITTER)


def test_deleted_and_missing_documents_are_named(tmp_path: Path) -> None:
    index = VectorStoreIndex.from_documents(FIRST, transformations=[SPLITTER])
    with pytest.raises(AssertionError, match=r"chunks of documents that no longer exist: 'kimchi.md'"):
        check_consistent(index, FIRST[:1], splitter=SPLITTER)
    index.delete_ref_doc("kimchi.md", delete_from_docstore=True)
    check_consistent(index, FIRST[:1], splitter=SPLITTER)
    with pytest.raises(AssertionError, match=r"no chunk of documents 'kimchi.md'"):
        check_consistent(index, FIRST, splitter=SPLITTER)


def test_a_hash_left_by_a_deleted_document_is_named() -> None:
    """A store that keeps the text (Chroma, NumpyVectorStore): delete_ref_doc removes the nodes, not the hash."""
    index = VectorStoreIndex.from_documents(
        FIRST, storage_context=StorageContext.from_defaults(vector_store=NumpyVectorStore()), transformations=[SPLITTER]
    )
    index.delete_ref_doc("kimchi.md")
    check_consistent(index, FIRST[:1], splitter=SPLITTER, hashes=None)  # the nodes are right
    with pytest.raises(AssertionError, match=r"still holds the hash of deleted documents 'kimchi.md'"):
        check_consistent(index, FIRST[:1], splitter=SPLITTER)
    index.docstore.delete_document("kimchi.md", raise_error=False)
    check_consistent(index, FIRST[:1], splitter=SPLITTER)
