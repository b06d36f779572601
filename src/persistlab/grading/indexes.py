"""The tests' own way to persist, load and read an index, and folders and file systems for them.

Independent of the learner's code: :func:`persist_reference_index` and :func:`load_reference_index`
are the standard LlamaIndex calls, :func:`stored_doc_ids` and friends read what a folder holds, and
:func:`private_memory_fs` / :func:`dir_fs` are fsspec file systems no learner code has seen.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from llama_index.core import Document, StorageContext, VectorStoreIndex, load_index_from_storage
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.vector_stores import MetadataFilters

from persistlab.grading.counting import counting_embedding_model


@contextlib.contextmanager
def fresh_dir() -> Iterator[Path]:
    """A new, empty temporary folder with an unpredictable name; removed with its contents afterwards."""
    path = Path(tempfile.mkdtemp(prefix="persistlab-grading-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def persist_reference_index(
    documents: list[Document], persist_dir: Path, embed_model: BaseEmbedding
) -> VectorStoreIndex:
    """Build an index the standard way and persist it (the tests' own setup, independent of learners' code)."""
    index = VectorStoreIndex.from_documents(documents, embed_model=embed_model)
    index.storage_context.persist(persist_dir=str(persist_dir))
    return index


def persist_with(
    build_and_persist: Callable[[list[Document], Path, BaseEmbedding], Any],
    documents: list[Document],
    persist_dir: Path,
    embed_model: BaseEmbedding,
) -> None:
    """Persist with the learner's ``build_and_persist``; if it fails or writes elsewhere, the reference way.

    Lets a loader be graded on its own, while a loader that returns what ``build_and_persist`` kept
    in memory is still caught.
    """
    try:
        build_and_persist(documents, persist_dir, embed_model)
    except Exception:  # graded by its own test; here only the files matter
        pass
    if not (Path(persist_dir) / "docstore.json").is_file():
        shutil.rmtree(persist_dir, ignore_errors=True)
        persist_reference_index(documents, persist_dir, embed_model)


def load_reference_index(persist_dir: Path, embed_model: BaseEmbedding) -> VectorStoreIndex:
    """Load an index the standard way; ``AssertionError`` naming the folder if it cannot be loaded."""
    try:
        storage_context = StorageContext.from_defaults(persist_dir=str(persist_dir))
        index = load_index_from_storage(storage_context, embed_model=embed_model)
        assert isinstance(index, VectorStoreIndex), f"not a vector index: {type(index).__name__}"
        return index
    except Exception as err:  # any failure means "not a complete index" to the test
        raise AssertionError(
            f"{persist_dir} does not hold a complete, loadable index: {type(err).__name__}: {err}"
        ) from err


def stored_doc_ids(persist_dir: Path) -> set[str]:
    """Ids of the documents in the index persisted at ``persist_dir`` (loaded without embedding)."""
    embed_model, _ = counting_embedding_model()
    index = load_reference_index(persist_dir, embed_model)
    vector_ids = set(index.vector_store.to_dict()["embedding_dict"]) if hasattr(index.vector_store, "to_dict") else None
    nodes = index.docstore.get_nodes(list(index.index_struct.nodes_dict.values()))
    if vector_ids is not None and {n.node_id for n in nodes} != vector_ids:
        raise AssertionError(
            f"{persist_dir}: the vector store and the docstore list different nodes (a mix of two indexes?)."
        )
    return {n.ref_doc_id for n in nodes if n.ref_doc_id}


def swap_stored_vectors(persist_dir: Path, doc_a: str, doc_b: str) -> None:
    """Edit a persisted index on disk: the nodes of two one-node documents trade vectors.

    Afterwards an index loaded from disk answers a question about ``doc_a`` with ``doc_b``; one that
    was re-embedded or kept in memory still answers with ``doc_a``.
    """
    path = Path(persist_dir) / "default__vector_store.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    node_of: dict[str, list[str]] = {}
    for node_id, ref in data["text_id_to_ref_doc_id"].items():
        node_of.setdefault(ref, []).append(node_id)
    if len(node_of.get(doc_a, [])) != 1 or len(node_of.get(doc_b, [])) != 1:
        raise ValueError(f"{path}: {doc_a} and {doc_b} must each have exactly one node.")
    (a,), (b,) = node_of[doc_a], node_of[doc_b]
    vectors = data["embedding_dict"]
    vectors[a], vectors[b] = vectors[b], vectors[a]
    path.write_text(json.dumps(data), encoding="utf-8")


def top_doc_id(index: VectorStoreIndex, query: str, filters: MetadataFilters | None = None) -> str | None:
    """The document id of the best-matching node for ``query`` (one query embedding), among the nodes ``filters``
    match (a reader's version of a store that holds several)."""
    hits = index.as_retriever(similarity_top_k=1, filters=filters).retrieve(query)
    return hits[0].node.ref_doc_id if hits else None


def retrieve_all(index: VectorStoreIndex, query: str = "lot") -> list[tuple[str | None, str]]:
    """``(document id, text)`` of every node the index can return (one query embedding)."""
    hits = index.as_retriever(similarity_top_k=100_000).retrieve(query)
    return [(hit.node.ref_doc_id, hit.node.get_content()) for hit in hits]


def tree_digest(path: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of every file under ``path``, to show a folder was left untouched."""
    path = Path(path)
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


def digest_outside_chroma(path: Path) -> dict[str, str]:
    """:func:`tree_digest` of ``path`` without Chroma's databases (every folder holding a ``chroma.sqlite3``).

    Chroma writes to its database whenever a client opens it, even only to read; the other files show
    whether code that refused a folder left it as it was.
    """
    path = Path(path)
    databases = [db.parent for db in path.rglob("chroma.sqlite3")]
    return {
        name: digest
        for name, digest in tree_digest(path).items()
        if not any((path / name).is_relative_to(folder) for folder in databases)
    }


def chroma_records(path: Path) -> dict[tuple[str, str, str], tuple[str | None, str]]:
    """Every record of every collection of the Chroma databases under ``path`` (each folder holding a
    ``chroma.sqlite3``): ``{(database folder, collection, record id): (its source document id, a digest of its
    vector, text and metadata)}``. Two calls around an update show what it wrote (:func:`changed_sources`)."""
    import chromadb

    from persistlab.stores import chroma_settings

    path = Path(path)
    records: dict[tuple[str, str, str], tuple[str | None, str]] = {}
    for database in sorted(db.parent for db in path.rglob("chroma.sqlite3")):
        client = chromadb.PersistentClient(path=str(database), settings=chroma_settings())
        for collection in client.list_collections():
            got = collection.get(include=["embeddings", "documents", "metadatas"])
            vectors, texts, metadatas = got["embeddings"], got["documents"] or [], got["metadatas"] or []
            for n, record_id in enumerate(got["ids"]):
                metadata = dict(metadatas[n] or {})
                content = [[float(x) for x in vectors[n]], texts[n], metadata] if vectors is not None else None
                digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
                source = metadata.get("ref_doc_id")
                key = (str(database.relative_to(path)), collection.name, record_id)
                records[key] = (source if isinstance(source, str) else None, digest)
    return records


def forget_chroma_clients() -> None:
    """Make the next ``chromadb.PersistentClient`` of a path open its database anew, as a restarted process would.

    Chroma's clients in one process share one system per path, which keeps its database open: code that reads a
    moved folder's database through its old, absolute path would still find it there until the process ends.
    """
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient.clear_system_cache()


def changed_sources(
    before: dict[tuple[str, str, str], tuple[str | None, str]],
    after: dict[tuple[str, str, str], tuple[str | None, str]],
) -> dict[str | None, int]:
    """``{source document id: records added, removed or changed}`` between two :func:`chroma_records` of a folder."""
    changed = [key for key in before.keys() | after.keys() if before.get(key) != after.get(key)]
    return dict(Counter((after.get(key) or before[key])[0] for key in changed))


def private_memory_fs() -> Any:
    """A new in-memory fsspec file system with a store of its own.

    ``fsspec.filesystem("memory")`` is one store shared by the whole process, so code that ignores
    the ``fs`` it is given and opens ``memory://`` itself would still find the files; here it would not.
    """
    from fsspec.implementations.memory import MemoryFileSystem

    class PrivateMemoryFileSystem(MemoryFileSystem):
        cachable = False  # a new instance every time, not fsspec's cached one
        store: dict[str, Any] = {}
        pseudo_dirs = [""]

    return PrivateMemoryFileSystem()


def dir_fs(folder: Path) -> Any:
    """An fsspec file system whose paths are relative to the local ``folder``, like a bucket on disk.

    Writing a file creates its parent folders, as object stores (which have no folders) allow.
    """
    from fsspec.implementations.dirfs import DirFileSystem
    from fsspec.implementations.local import LocalFileSystem

    return DirFileSystem(path=str(folder), fs=LocalFileSystem(auto_mkdir=True))
