"""Reading an index persisted with LlamaIndex's default stores: its nodes with their stored vectors (to move
them into another store without calling the embedding API), and every vector-store namespace through fsspec."""

from __future__ import annotations

from typing import TYPE_CHECKING

from llama_index.core.schema import BaseNode
from llama_index.core.vector_stores.types import BasePydanticVectorStore

if TYPE_CHECKING:
    import fsspec
    from llama_index.core import VectorStoreIndex


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
    found: dict[str, BasePydanticVectorStore] = {}
    for path in fs.ls(persist_dir, detail=False):
        name = path.rstrip("/").rsplit("/", 1)[-1]
        if name.endswith(suffix):
            found[name[: -len(suffix)]] = SimpleVectorStore.from_persist_path(path, fs=fs)
    if "default" not in found:
        raise FileNotFoundError(f"No default__vector_store.json in {persist_dir}: persist the index there first.")
    return found
