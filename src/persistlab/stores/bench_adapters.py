"""Benchmark backends of the stores the course measures but does not teach (the bench dependency group):
LanceDB, Milvus Lite and Qdrant's local mode, each through its LlamaIndex integration, behind
:class:`persistlab.stores.adapters.Backend`. Lesson 08 explains why none of them is the course's choice.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llama_index.core.schema import BaseNode

from persistlab.stores.adapters import Backend, Searcher, build_into, check_dir, check_embedded, searcher_over

if TYPE_CHECKING:
    from llama_index.core.base.embeddings.base import BaseEmbedding

STORE_TABLE = "persistlab"
"""Name of the table or collection the LanceDB, Milvus Lite and Qdrant backends write and read."""


class LanceDBBackend(Backend):
    name = "lancedb"
    description = "LanceDB table (stores text; exact search)"
    modules = ("llama_index.core", "lancedb", "llama_index.vector_stores.lancedb")

    def build(self, nodes: Sequence[BaseNode], persist_dir: Path, embed_model: BaseEmbedding) -> None:
        from llama_index.vector_stores.lancedb import LanceDBVectorStore

        check_embedded(nodes)
        build_into(
            LanceDBVectorStore(uri=str(persist_dir), table_name=STORE_TABLE, mode="overwrite"), nodes, embed_model
        )

    def load(self, persist_dir: Path, embed_model: BaseEmbedding) -> Searcher:
        from llama_index.vector_stores.lancedb import LanceDBVectorStore

        check_dir(persist_dir, f"{STORE_TABLE}.lance")
        return searcher_over(LanceDBVectorStore(uri=str(persist_dir), table_name=STORE_TABLE), embed_model)


class MilvusLiteBackend(Backend):
    """Milvus Lite: one file, served by a process that Milvus Lite starts inside the process that opens it.

    While one process has the file open (even after ``client.close()``), another cannot open it: pymilvus
    raises ``Open local milvus failed``. So the benchmark's fresh-process load fails while the process that
    built the store is alive; load it after that process has exited.
    """

    name = "milvus"
    description = "Milvus Lite file (stores text)"
    modules = ("llama_index.core", "pymilvus", "llama_index.vector_stores.milvus")
    file_name = "milvus.db"

    def _store(self, persist_dir: Path, dim: int | None, overwrite: bool) -> Any:
        from llama_index.vector_stores.milvus import MilvusVectorStore

        return MilvusVectorStore(
            uri=str(Path(persist_dir) / self.file_name),
            collection_name=STORE_TABLE,
            dim=dim,
            overwrite=overwrite,
            similarity_metric="IP",
        )

    def build(self, nodes: Sequence[BaseNode], persist_dir: Path, embed_model: BaseEmbedding) -> None:
        check_embedded(nodes)
        Path(persist_dir).mkdir(parents=True, exist_ok=True)
        store = self._store(persist_dir, len(nodes[0].get_embedding()), overwrite=True)
        try:
            build_into(store, nodes, embed_model)
        finally:
            store.client.close()

    def load(self, persist_dir: Path, embed_model: BaseEmbedding) -> Searcher:
        check_dir(persist_dir, self.file_name)
        store = self._store(persist_dir, None, overwrite=False)
        store.client.load_collection(STORE_TABLE)  # a reopened file's collection starts released: not searchable
        return searcher_over(store, embed_model, on_close=store.client.close)


class QdrantLocalBackend(Backend):
    name = "qdrant"
    description = "Qdrant local mode (stores text)"
    modules = ("llama_index.core", "qdrant_client", "llama_index.vector_stores.qdrant")

    def build(self, nodes: Sequence[BaseNode], persist_dir: Path, embed_model: BaseEmbedding) -> None:
        from llama_index.vector_stores.qdrant import QdrantVectorStore
        from qdrant_client import QdrantClient

        check_embedded(nodes)
        client = QdrantClient(path=str(persist_dir))
        try:
            build_into(QdrantVectorStore(collection_name=STORE_TABLE, client=client), nodes, embed_model)
        finally:
            client.close()

    def load(self, persist_dir: Path, embed_model: BaseEmbedding) -> Searcher:
        from llama_index.vector_stores.qdrant import QdrantVectorStore
        from qdrant_client import QdrantClient

        check_dir(persist_dir, "collection")
        client = QdrantClient(path=str(persist_dir))
        return searcher_over(
            QdrantVectorStore(collection_name=STORE_TABLE, client=client), embed_model, on_close=client.close
        )
