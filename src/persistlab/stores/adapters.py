"""The benchmark's vector store backends behind one small interface: build and persist, load, top-k query.

Lesson 08 (vector stores) and ``benchmarks/vector_stores.py`` compare the same backends, each through its
maintained LlamaIndex integration except the last two:

============= ========================================================================================
``json``      LlamaIndex's default: ``SimpleVectorStore`` persisted as JSON by ``StorageContext.persist``
``faiss``     ``FaissVectorStore`` (flat inner-product index); texts stay in ``docstore.json``
``faiss_map`` ``FaissMapVectorStore`` (the same behind an id map, so it can delete by node id)
``chroma``    ``ChromaVectorStore`` on a local ``chromadb.PersistentClient``; Chroma stores the texts
``lancedb``   ``LanceDBVectorStore`` on a local LanceDB table (exact search without a vector index)
``milvus``    ``MilvusVectorStore`` on a Milvus Lite file
``qdrant``    ``QdrantVectorStore`` on ``QdrantClient(path=...)``, Qdrant's local mode
``numpy``     :class:`~persistlab.stores.numpy_store.NumpyVectorStore`: a ``.npy`` matrix plus one JSON line per
              node, the course's illustration of how close a store can come to the floor; not a production choice
``floor``     no LlamaIndex at all: ``np.load`` of the matrix, ``json.load`` of the texts, brute force
============= ========================================================================================

LanceDB, Milvus Lite and Qdrant (:mod:`persistlab.stores.bench_adapters`) are in the bench dependency group only;
:data:`persistlab.stores.BACKENDS` lists every backend.

Each backend builds from nodes that already carry embeddings, so nothing is embedded here. ``load``
returns a :class:`Searcher` whose ``top_k`` takes a query vector and returns :class:`Hit` s with text.
(Moved out of :mod:`persistlab.stores` unchanged, but for ``chroma_settings``, which no longer sets
an environment variable; ``persistlab.stores`` still offers every name.)
"""

from __future__ import annotations

import functools
import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import numpy as np
from llama_index.core.schema import BaseNode

from persistlab.stores.numpy_store import NumpyVectorStore

if TYPE_CHECKING:
    from llama_index.core import StorageContext, VectorStoreIndex
    from llama_index.core.base.embeddings.base import BaseEmbedding

CHROMA_COLLECTION = "persistlab"
"""Name of the Chroma collection the ``chroma`` backend writes and reads."""

CHROMA_HNSW: dict[str, Any] = {
    "space": "cosine",
    "max_neighbors": 32,
    "ef_construction": 200,
    "ef_search": 400,
    "batch_size": 100,
    "sync_threshold": 100,
}
"""The HNSW settings of the course's Chroma collections: ``configuration={"hnsw": CHROMA_HNSW}`` at creation.

- ``space`` cosine: distances are ``1 - cosine`` (Chroma's default is squared L2).
- ``max_neighbors`` (M), ``ef_construction`` and ``ef_search``: the graph's links per vector, and how many
  candidates a build and a query examine. Chroma's defaults (16, 100, 100) miss part of the exact top 5 on the
  benchmark's vectors; these find almost all of it, for a slower build and query
  (``benchmarks/chroma_recall.py`` measures both). M and ``ef_construction`` are fixed when the collection is created;
  ``collection.modify(configuration={"hnsw": {"ef_search": ...}})`` changes ``ef_search`` later, from the next time
  a client opens the collection.
- ``batch_size`` and ``sync_threshold``: the HNSW index is written to disk every 100 additions instead of every
  1,000. Chroma logs every write first and adds it to the on-disk index only at each sync; whatever was logged
  after the last sync is replayed at *every* open, and a read-only open never writes it back: with the default
  threshold, LlamaIndex's batches of 2,048 left hundreds of vectors to replay at each load.
"""

CHROMA_CONFIGURATION: dict[str, Any] = {"hnsw": CHROMA_HNSW}
"""What to pass as ``configuration=`` to ``create_collection`` / ``get_or_create_collection``."""

_LEGACY_KEYS = {
    "space": "hnsw:space",
    "max_neighbors": "hnsw:M",
    "ef_construction": "hnsw:construction_ef",
    "ef_search": "hnsw:search_ef",
    "batch_size": "hnsw:batch_size",
    "sync_threshold": "hnsw:sync_threshold",
}
CHROMA_METADATA: dict[str, Any] = {_LEGACY_KEYS[key]: value for key, value in CHROMA_HNSW.items()}
"""The same settings in the older ``metadata={"hnsw:...": ...}`` spelling, which chromadb 1.x still reads and
turns into the collection's configuration; new code passes :data:`CHROMA_CONFIGURATION`."""


class Hit(NamedTuple):
    """One search result: node id, its text, and the score the store reports (higher is closer).

    Scores are not comparable across stores. The FAISS integration reports the index's raw score: the inner
    product for the backends' ``IndexFlatIP`` (the cosine of unit vectors), but a squared L2 distance, lower is
    closer, for an ``IndexFlatL2``. The Chroma integration reports ``exp(-distance)``: ``exp(cosine - 1)`` in the
    backends' cosine collections, ``exp(-squared L2 distance)`` in Chroma's default space. The LanceDB one
    reports ``exp(-squared L2 distance)``, i.e. ``exp(2 cosine - 2)`` for unit vectors.
    """

    node_id: str
    text: str
    score: float


class Searcher(ABC):
    """A loaded store, ready to answer top-k queries given as vectors."""

    @abstractmethod
    def top_k(self, embedding: Sequence[float] | np.ndarray, k: int = 5) -> list[Hit]:
        """The ``k`` nodes closest to ``embedding``, best first."""

    def close(self) -> None:  # noqa: B027 (optional hook: most searchers hold nothing)
        """Release files and connections (no-op unless the backend holds some)."""


# --- searchers --------------------------------------------------------------------------------


class IndexSearcher(Searcher):
    """Top-k through a LlamaIndex retriever, the way an application would query a loaded index."""

    def __init__(self, index: VectorStoreIndex, on_close: Any = None) -> None:
        self.index = index
        self._retrievers: dict[int, Any] = {}
        self._on_close = on_close

    def top_k(self, embedding: Sequence[float] | np.ndarray, k: int = 5) -> list[Hit]:
        from llama_index.core import QueryBundle

        if k not in self._retrievers:
            self._retrievers[k] = self.index.as_retriever(similarity_top_k=k)
        bundle = QueryBundle(query_str="", embedding=[float(x) for x in embedding])
        results = self._retrievers[k].retrieve(bundle)
        return [Hit(r.node.node_id, r.node.get_content(), float(r.score or 0.0)) for r in results]

    def close(self) -> None:
        if self._on_close is not None:
            self._on_close()
            self._on_close = None


class FloorSearcher(Searcher):
    """Brute force over a plain matrix: what any store has to beat."""

    def __init__(self, vectors: np.ndarray, ids: list[str], texts: list[str]) -> None:
        self.vectors, self.ids, self.texts = vectors, ids, texts

    def top_k(self, embedding: Sequence[float] | np.ndarray, k: int = 5) -> list[Hit]:
        scores = self.vectors @ np.asarray(embedding, dtype=np.float32)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [Hit(self.ids[i], self.texts[i], float(scores[i])) for i in top]


def brute_force_ids(vectors: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    """Row numbers of the exact top ``k`` rows of ``vectors`` by inner product with ``query``."""
    scores = vectors @ query
    return [int(i) for i in np.argsort(-scores, kind="stable")[:k]]


# --- backends -----------------------------------------------------------------------------------


class Backend(ABC):
    """How one kind of store is built, persisted and loaded."""

    name: ClassVar[str]
    description: ClassVar[str]
    modules: ClassVar[tuple[str, ...]] = ("llama_index.core",)
    """Modules imported before a load is timed: import cost is measured separately."""

    def import_modules(self) -> None:
        for module in self.modules:
            import_module(module)

    def installed(self) -> bool:
        """Whether every module this backend needs can be imported here."""
        from importlib.util import find_spec

        return all(
            find_spec(module.split(".")[0]) is not None and find_spec(module) is not None for module in self.modules
        )

    @abstractmethod
    def build(self, nodes: Sequence[BaseNode], persist_dir: Path, embed_model: BaseEmbedding) -> None:
        """Index ``nodes`` (each with ``embedding`` set) and persist everything into ``persist_dir``."""

    @abstractmethod
    def load(self, persist_dir: Path, embed_model: BaseEmbedding) -> Searcher:
        """Open what :meth:`build` persisted, ready to answer queries with text."""


def check_embedded(nodes: Sequence[BaseNode]) -> None:
    """Raise ValueError naming the first node without an embedding: backends here never embed."""
    missing = [n.node_id for n in nodes if n.embedding is None]
    if missing:
        raise ValueError(
            f"{len(missing)} node(s) have no embedding (first: {missing[0]!r}); backends here never embed. "
            "Set node.embedding first, e.g. from persistlab.simulator.service.embed_vectors(...)."
        )


def check_dir(persist_dir: Path, expected: str) -> None:
    """Raise FileNotFoundError naming the folder unless it holds ``expected`` (what the backend's build writes)."""
    if not Path(persist_dir, expected).exists():
        raise FileNotFoundError(f"{persist_dir} holds no {expected}: build and persist this store there first.")


def build_into(store: Any, nodes: Sequence[BaseNode], embed_model: BaseEmbedding) -> StorageContext:
    """Index ``nodes`` (embedded already) into the vector store ``store``; the context, for stores that persist."""
    from llama_index.core import StorageContext, VectorStoreIndex

    context = StorageContext.from_defaults(vector_store=store)
    VectorStoreIndex(list(nodes), storage_context=context, embed_model=embed_model)
    return context


def searcher_over(store: Any, embed_model: BaseEmbedding, on_close: Any = None) -> IndexSearcher:
    """A searcher over an index opened on ``store`` alone (a store that keeps the text)."""
    from llama_index.core import VectorStoreIndex

    return IndexSearcher(VectorStoreIndex.from_vector_store(store, embed_model=embed_model), on_close=on_close)


class JsonBackend(Backend):
    name = "json"
    description = "default JSON (SimpleVectorStore)"

    def build(self, nodes: Sequence[BaseNode], persist_dir: Path, embed_model: BaseEmbedding) -> None:
        from llama_index.core import StorageContext, VectorStoreIndex

        check_embedded(nodes)
        index = VectorStoreIndex(list(nodes), storage_context=StorageContext.from_defaults(), embed_model=embed_model)
        index.storage_context.persist(persist_dir=str(persist_dir))

    def load(self, persist_dir: Path, embed_model: BaseEmbedding) -> Searcher:
        from llama_index.core import StorageContext, VectorStoreIndex, load_index_from_storage

        check_dir(persist_dir, "docstore.json")
        context = StorageContext.from_defaults(persist_dir=str(persist_dir))
        index = load_index_from_storage(context, embed_model=embed_model)
        assert isinstance(index, VectorStoreIndex), f"{persist_dir} holds a {type(index).__name__}"
        return IndexSearcher(index)


class FaissBackend(Backend):
    name = "faiss"
    description = "FAISS flat IP + docstore.json"
    modules = ("llama_index.core", "faiss", "llama_index.vector_stores.faiss")
    store_class = "FaissVectorStore"

    def _store(self, dim: int) -> Any:
        import faiss
        from llama_index.vector_stores import faiss as integration

        # inner product = cosine similarity for unit-length vectors (OpenAI's are)
        return getattr(integration, self.store_class)(faiss_index=faiss.IndexFlatIP(dim))

    def build(self, nodes: Sequence[BaseNode], persist_dir: Path, embed_model: BaseEmbedding) -> None:
        check_embedded(nodes)
        build_into(self._store(len(nodes[0].get_embedding())), nodes, embed_model).persist(persist_dir=str(persist_dir))

    def load(self, persist_dir: Path, embed_model: BaseEmbedding) -> Searcher:
        from llama_index.core import StorageContext, VectorStoreIndex, load_index_from_storage
        from llama_index.vector_stores import faiss as integration

        check_dir(persist_dir, "default__vector_store.json")
        store = getattr(integration, self.store_class).from_persist_dir(str(persist_dir))
        context = StorageContext.from_defaults(vector_store=store, persist_dir=str(persist_dir))
        index = load_index_from_storage(context, embed_model=embed_model)
        assert isinstance(index, VectorStoreIndex), f"{persist_dir} holds a {type(index).__name__}"
        return IndexSearcher(index)


class FaissMapBackend(FaissBackend):
    """``FaissMapVectorStore``: the same flat index behind an id map, so that nodes can be deleted."""

    name = "faiss_map"
    description = "FAISS IDMap2 flat IP + docstore.json (deletes)"
    store_class = "FaissMapVectorStore"

    def _store(self, dim: int) -> Any:
        import faiss
        from llama_index.vector_stores.faiss import FaissMapVectorStore

        return FaissMapVectorStore(faiss_index=faiss.IndexIDMap2(faiss.IndexFlatIP(dim)))


@functools.cache
def _chroma_defaults() -> Any:
    from chromadb.config import Settings

    return Settings(anonymized_telemetry=False)


def chroma_settings() -> Any:
    """Chroma client settings with anonymous telemetry off: a new copy each call, since
    ``chromadb.PersistentClient`` writes its path into the settings it is given. (Copying skips the
    5-15 ms that building ``Settings`` from the environment costs each client.)"""
    return _chroma_defaults().model_copy()


class ChromaBackend(Backend):
    name = "chroma"
    description = "Chroma PersistentClient (stores text)"
    modules = ("llama_index.core", "chromadb", "llama_index.vector_stores.chroma")

    def __init__(self, hnsw: dict[str, Any] | None = None) -> None:
        """``hnsw``: the collection's HNSW settings (default :data:`CHROMA_HNSW`)."""
        self.configuration: Any = {"hnsw": dict(CHROMA_HNSW if hnsw is None else hnsw)}

    def build(self, nodes: Sequence[BaseNode], persist_dir: Path, embed_model: BaseEmbedding) -> None:
        import chromadb
        from llama_index.vector_stores.chroma import ChromaVectorStore

        check_embedded(nodes)
        client = chromadb.PersistentClient(path=str(persist_dir), settings=chroma_settings())
        try:
            collection = client.get_or_create_collection(
                CHROMA_COLLECTION, configuration=self.configuration, embedding_function=None
            )
            build_into(ChromaVectorStore(chroma_collection=collection), nodes, embed_model)
        finally:
            client.close()  # type: ignore[attr-defined]  # ClientAPI omits the client's close(); it flushes and releases the files

    def load(self, persist_dir: Path, embed_model: BaseEmbedding) -> Searcher:
        import chromadb
        from llama_index.vector_stores.chroma import ChromaVectorStore

        check_dir(persist_dir, "chroma.sqlite3")
        client = chromadb.PersistentClient(path=str(persist_dir), settings=chroma_settings())
        collection = client.get_collection(CHROMA_COLLECTION, embedding_function=None)
        on_close = client.close  # type: ignore[attr-defined]  # as above
        return searcher_over(ChromaVectorStore(chroma_collection=collection), embed_model, on_close=on_close)


class NumpyBackend(Backend):
    name = "numpy"
    description = "NumpyVectorStore (persistlab; memory-mapped .npy + JSON lines)"

    def build(self, nodes: Sequence[BaseNode], persist_dir: Path, embed_model: BaseEmbedding) -> None:
        check_embedded(nodes)
        build_into(NumpyVectorStore(), nodes, embed_model).persist(persist_dir=str(persist_dir))

    def load(self, persist_dir: Path, embed_model: BaseEmbedding) -> Searcher:
        return searcher_over(NumpyVectorStore.from_persist_dir(persist_dir), embed_model)


class FloorBackend(Backend):
    name = "floor"
    description = "raw numpy floor (np.load + JSON texts)"
    modules = ()

    def build(self, nodes: Sequence[BaseNode], persist_dir: Path, embed_model: BaseEmbedding) -> None:
        check_embedded(nodes)
        persist_dir = Path(persist_dir)
        persist_dir.mkdir(parents=True, exist_ok=True)
        np.save(persist_dir / "vectors.npy", np.asarray([n.get_embedding() for n in nodes], dtype=np.float32))
        texts = {"ids": [n.node_id for n in nodes], "texts": [n.get_content() for n in nodes]}
        (persist_dir / "texts.json").write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")

    def load(self, persist_dir: Path, embed_model: BaseEmbedding | None = None) -> Searcher:
        persist_dir = Path(persist_dir)
        check_dir(persist_dir, "vectors.npy")
        vectors = np.load(persist_dir / "vectors.npy")
        texts = json.loads((persist_dir / "texts.json").read_text(encoding="utf-8"))
        return FloorSearcher(vectors, texts["ids"], texts["texts"])
