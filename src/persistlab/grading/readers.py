"""A reader paused between two files, for lessons 05 and 10's proof cells: what a load sees when a writer acts
while it reads.

``load_in_steps`` loads a persisted folder file by file, as ``StorageContext.from_defaults`` does, and calls
``between()`` after the docstore; ``stores_agree`` says whether the node ids an index lists are those its stores
hold (a load that mixed two snapshots lists nodes its docstore does not have).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from llama_index.core import Settings, StorageContext, VectorStoreIndex, load_index_from_storage
from llama_index.core.storage.docstore import SimpleDocumentStore
from llama_index.core.storage.index_store import SimpleIndexStore
from llama_index.core.vector_stores import SimpleVectorStore


def load_in_steps(persist_dir: str | Path, between: Callable[[], Any]) -> Any:
    """Load persist_dir one file after another, as from_defaults does, calling between() after the docstore."""
    docstore = SimpleDocumentStore.from_persist_dir(str(persist_dir))
    between()
    index_store = SimpleIndexStore.from_persist_dir(str(persist_dir))
    vector_store = SimpleVectorStore.from_persist_dir(str(persist_dir))
    storage_context = StorageContext.from_defaults(
        docstore=docstore, index_store=index_store, vector_store=vector_store
    )
    return load_index_from_storage(storage_context, embed_model=Settings.embed_model)


def stores_agree(index: VectorStoreIndex) -> str:
    """Compare the node ids the index lists with those its vector store and its docstore hold."""
    listed = set(index.index_struct.nodes_dict.values())
    vectors = set(index.vector_store.to_dict()["embedding_dict"])
    stored = set(index.docstore.docs)
    verdict = "they agree" if listed == vectors == stored else "MIXED"
    return (
        f"index lists {len(listed)} nodes, vector store {len(vectors)}, docstore {len(stored)}; "
        f"listed but not in the docstore: {len(listed - stored)}: {verdict}"
    )
