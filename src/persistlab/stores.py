"""Vector stores for the lessons: the course's own store, every store the benchmark compares, and moving
an index from one store to another without re-embedding.

One import for the lessons (``from persistlab import stores``): :class:`NumpyVectorStore` is
:mod:`persistlab.numpystore`'s; the benchmark's adapters (:func:`backend`, :data:`BACKENDS`,
:func:`brute_force_ids`, :func:`chroma_settings`, ...) are :mod:`persistlab.storebackends`'. This module
itself holds :func:`nodes_with_embeddings`, which reads the nodes of an index persisted with the default
store together with their stored vectors, to move them into another store without calling the embedding
API again, and :func:`simple_vector_stores`, which loads every namespace of a persisted index through fsspec.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llama_index.core.schema import BaseNode
from llama_index.core.vector_stores.types import BasePydanticVectorStore

from persistlab.numpystore import MANIFEST_SUFFIX, NUMPY_STORE_FORMAT, NumpyVectorStore
from persistlab.benchbackends import LanceDBBackend, MilvusLiteBackend, QdrantLocalBackend
from persistlab.storebackends import (
    CHROMA_COLLECTION,
    CHROMA_METADATA,
    Backend,
    ChromaBackend,
    FaissBackend,
    FaissMapBackend,
    FloorBackend,
    FloorSearcher,
    Hit,
    IndexSearcher,
    JsonBackend,
    NumpyBackend,
    Searcher,
    brute_force_ids,
    chroma_settings,
)

if TYPE_CHECKING:
    import fsspec
    from llama_index.core import VectorStoreIndex

__all__ = [
    "BACKENDS", "CHROMA_COLLECTION", "CHROMA_METADATA", "MANIFEST_SUFFIX", "NUMPY_STORE_FORMAT", "Backend",
    "ChromaBackend", "FaissBackend", "FaissMapBackend", "FloorBackend", "LanceDBBackend", "MilvusLiteBackend",
    "QdrantLocalBackend", "FloorSearcher", "Hit", "IndexSearcher", "JsonBackend",
    "NumpyBackend", "NumpyVectorStore", "Searcher", "backend", "brute_force_ids", "chroma_settings",
    "nodes_with_embeddings", "simple_vector_stores",
]


BACKENDS: dict[str, Backend] = {b.name: b for b in (
    JsonBackend(), FaissBackend(), FaissMapBackend(), ChromaBackend(), LanceDBBackend(), MilvusLiteBackend(),
    QdrantLocalBackend(), NumpyBackend(), FloorBackend(),
)}
"""Every benchmark backend by name, in the order tables list them."""


def backend(name: str) -> Backend:
    """The backend called ``name``; ValueError listing the known names otherwise."""
    try:
        return BACKENDS[name]
    except KeyError:
        raise ValueError(f"Unknown store {name!r}; choose from {', '.join(BACKENDS)}.") from None


# --- moving an index without re-embedding -------------------------------------------------------


def nodes_with_embeddings(index: VectorStoreIndex) -> list[BaseNode]:
    """The nodes of an index whose vectors live in a ``SimpleVectorStore``, each with its stored vector.

    The docstore holds the nodes' text and metadata (with ``embedding`` empty); the vector store
    holds the vectors by node id. Putting the two together gives nodes that any other vector store
    accepts as they are: ``VectorStoreIndex(nodes, storage_context=...)`` embeds only nodes whose
    ``embedding`` is None, so none are sent to the embedding API.
    """
    vector_store = index.vector_store
    if not hasattr(vector_store, "get") or vector_store.stores_text:
        raise ValueError(
            f"nodes_with_embeddings reads the default SimpleVectorStore; this index uses {type(vector_store).__name__}. "
            "For stores that keep text, use vector_store.get_nodes() instead."
        )
    node_ids = list(index.index_struct.nodes_dict.values())
    nodes = index.docstore.get_nodes(node_ids)
    for node in nodes:
        node.embedding = vector_store.get(node.node_id)
    return nodes


# --- loading through fsspec ------------------------------------------------------------------------


def simple_vector_stores(persist_dir: str, fs: fsspec.AbstractFileSystem) -> dict[str, BasePydanticVectorStore]:
    """Every ``<namespace>__vector_store.json`` in ``persist_dir`` on ``fs``, loaded as a ``SimpleVectorStore``.

    Pass the result as ``StorageContext.from_defaults(persist_dir=..., fs=fs, vector_stores=...)``. It works
    around a bug in llama-index-core 0.14.25: loading with ``fs=`` lists the folder with ``fs.listdir``, which
    returns dicts rather than names; the resulting error is swallowed and only the ``default`` namespace is
    loaded, so ``image`` and any other namespace silently disappear. Here the names come from
    ``fs.ls(..., detail=False)``.
    """
    from llama_index.core.vector_stores import SimpleVectorStore

    suffix = "__vector_store.json"
    found = {}
    for path in fs.ls(persist_dir, detail=False):
        name = path.rstrip("/").rsplit("/", 1)[-1]
        if name.endswith(suffix):
            found[name[: -len(suffix)]] = SimpleVectorStore.from_persist_path(path, fs=fs)
    if "default" not in found:
        raise FileNotFoundError(f"No default__vector_store.json in {persist_dir}: persist the index there first.")
    return found
