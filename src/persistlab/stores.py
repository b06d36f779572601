"""Vector store backends behind one small interface: build and persist, load, top-k query.

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
``numpy``     :class:`NumpyVectorStore` (this module): a ``.npy`` matrix plus one JSON line per node, the
              course's illustration of how close a store can come to the floor; not a production choice
``floor``     no LlamaIndex at all: ``np.load`` of the matrix, ``json.load`` of the texts, brute force
============= ========================================================================================

LanceDB, Milvus Lite and Qdrant are in the test environment only (see pyproject.toml).
Each backend builds from nodes that already carry embeddings, so nothing is embedded here. ``load``
returns a :class:`Searcher` whose ``top_k`` takes a query vector and returns :class:`Hit` s with text.

:func:`nodes_with_embeddings` reads the nodes of an index persisted with the default store together
with their stored vectors, to move them into another store without calling the embedding API again.
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import numpy as np
from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.schema import BaseNode
from llama_index.core.vector_stores.types import (
    BasePydanticVectorStore,
    VectorStoreQuery,
    VectorStoreQueryMode,
    VectorStoreQueryResult,
)
from llama_index.core.vector_stores.utils import build_metadata_filter_fn, metadata_dict_to_node, node_to_metadata_dict

if TYPE_CHECKING:
    import fsspec
    from llama_index.core import VectorStoreIndex
    from llama_index.core.base.embeddings.base import BaseEmbedding

CHROMA_COLLECTION = "persistlab"
"""Name of the Chroma collection the ``chroma`` backend writes and reads."""

CHROMA_METADATA = {"hnsw:space": "cosine", "hnsw:batch_size": 100, "hnsw:sync_threshold": 100}
"""Cosine distance, and the HNSW index written to disk every 100 additions instead of every 1,000.

Chroma logs every write first and adds it to the on-disk HNSW index only at each sync; whatever was
logged after the last sync is replayed into the index at *every* open, and a read-only open never
writes it back. With the default threshold, 5,000 vectors added by LlamaIndex in batches of 2,048
leave 904 to replay, and each load took 3.7-5.2 s instead of 0.6-0.9 s. A build-once, load-often
index wants a small threshold; the price is a slower build."""

NUMPY_STORE_FORMAT = "persistlab.numpy-vector-store/1"
MANIFEST_SUFFIX = ".manifest.json"


class Hit(NamedTuple):
    """One search result: node id, its text, and the score the store reports (higher is closer).

    Scores are not comparable across stores: most report cosine similarity, but the Chroma
    integration reports ``exp(-distance)``, i.e. ``exp(cosine - 1)`` for a cosine collection, and the
    LanceDB one ``exp(-squared L2 distance)``, i.e. ``exp(2 cosine - 2)`` for unit vectors.
    """

    node_id: str
    text: str
    score: float


class Searcher(ABC):
    """A loaded store, ready to answer top-k queries given as vectors."""

    @abstractmethod
    def top_k(self, embedding: Sequence[float] | np.ndarray, k: int = 5) -> list[Hit]:
        """The ``k`` nodes closest to ``embedding``, best first."""

    def close(self) -> None:
        """Release files and connections (no-op unless the backend holds some)."""


# --- a vector store that persists as numpy --------------------------------------------------


class NumpyVectorStore(BasePydanticVectorStore):
    """A LlamaIndex vector store kept as one float32 matrix plus one JSON line per node.

    It stores text (``stores_text = True``), so an index over it needs no docstore:
    ``VectorStoreIndex.from_vector_store(NumpyVectorStore.from_persist_dir(d))``. Search is exact
    (brute-force cosine similarity), fine up to a few hundred thousand vectors on one machine.

    ``StorageContext.persist(persist_dir)`` hands it the path ``default__vector_store.json``; it writes
    four files with that stem instead: ``.npy`` (the unit-length vectors), ``.jsonl`` (the nodes, one
    JSON object per line), ``.offsets.npy`` (where each line starts) and, last, ``.manifest.json``
    (counts and format). There is deliberately no ``default__vector_store.json``: loading the folder
    without passing this store then fails loudly (``KeyError: 'default'``) instead of quietly reading an
    empty ``SimpleVectorStore``.

    From a local folder, loading memory-maps the vectors and the lines: nothing is copied or parsed up
    front, processes on one machine share the pages, and a node's JSON is parsed only when a query
    returns it. Other file systems (``fs=``) are read into memory. Each file is written to a temporary
    name and renamed into place, so persisting over the folder a store was loaded from is safe.
    Vectors are stored normalised to unit length, so ``get_nodes`` returns them so.
    """

    stores_text: bool = True
    _vectors: np.ndarray = PrivateAttr()
    _buffer: Any = PrivateAttr()  # bytes or a read-only mmap: the JSON lines, back to back
    _offsets: np.ndarray = PrivateAttr()  # int64, count + 1: line i is _buffer[_offsets[i]:_offsets[i + 1]]
    _ids: list[str] | None = PrivateAttr(default=None)

    def __init__(self, vectors: np.ndarray | None = None, buffer: Any = b"", offsets: np.ndarray | None = None) -> None:
        super().__init__()
        self._vectors = vectors if vectors is not None else np.zeros((0, 0), dtype=np.float32)
        self._buffer = buffer
        self._offsets = offsets if offsets is not None else np.zeros(1, dtype=np.int64)
        self._ids = None

    @classmethod
    def class_name(cls) -> str:
        return "NumpyVectorStore"

    @property
    def client(self) -> None:
        return None

    # No __len__: StorageContext.from_defaults tests ``if vector_store:``, and an empty store would be falsy.
    @property
    def count(self) -> int:
        """How many nodes the store holds."""
        return len(self._offsets) - 1

    # records ---------------------------------------------------------------------------
    def _line(self, row: int) -> bytes:
        return bytes(self._buffer[self._offsets[row] : self._offsets[row + 1]])

    def _record(self, row: int) -> dict[str, Any]:
        return json.loads(self._line(row))

    def _all_ids(self) -> list[str]:
        if self._ids is None:
            self._ids = [self._record(i)["id"] for i in range(self.count)]
        return self._ids

    def _node(self, row: int, with_embedding: bool = False) -> BaseNode:
        node = metadata_dict_to_node(self._record(row)["node"])
        if with_embedding:
            node.embedding = self._vectors[row].tolist()
        return node

    def _set_lines(self, lines: list[bytes]) -> None:
        sizes = np.fromiter((len(line) for line in lines), dtype=np.int64, count=len(lines))
        self._buffer = b"".join(lines)
        self._offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)

    # writing -----------------------------------------------------------------------------
    def add(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[str]:
        if not nodes:
            return []
        matrix = np.asarray([node.get_embedding() for node in nodes], dtype=np.float32)
        if self.count and matrix.shape[1] != self._vectors.shape[1]:
            raise ValueError(
                f"NumpyVectorStore holds {self._vectors.shape[1]}-d vectors; got {matrix.shape[1]}-d ones. "
                "Every vector in one store must come from the same embedding model."
            )
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        matrix /= np.where(norms == 0, 1.0, norms)
        ids = self._all_ids()
        new_lines = [
            json.dumps({"id": n.node_id, "node": node_to_metadata_dict(n, remove_text=False)}, ensure_ascii=False).encode()
            + b"\n"
            for n in nodes
        ]
        self._set_lines([self._line(i) for i in range(self.count)] + new_lines)
        self._vectors = matrix if not len(ids) else np.vstack([self._vectors, matrix])
        ids.extend(n.node_id for n in nodes)
        return [n.node_id for n in nodes]

    def _keep(self, keep: np.ndarray) -> None:
        self._vectors = self._vectors[keep]
        self._set_lines([self._line(i) for i in np.flatnonzero(keep)])
        self._ids = None

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        refs = [self._record(i)["node"].get("ref_doc_id") for i in range(self.count)]
        self._keep(np.array([r != ref_doc_id for r in refs], dtype=bool))

    def delete_nodes(self, node_ids: list[str] | None = None, filters: Any = None, **kwargs: Any) -> None:
        if filters is not None:
            raise NotImplementedError("NumpyVectorStore.delete_nodes deletes by node_ids only.")
        drop = set(node_ids or [])
        self._keep(np.array([i not in drop for i in self._all_ids()], dtype=bool))

    def clear(self) -> None:
        self._keep(np.zeros(self.count, dtype=bool))

    # reading ------------------------------------------------------------------------------
    def get_nodes(self, node_ids: list[str] | None = None, filters: Any = None) -> list[BaseNode]:
        rows: Sequence[int] = range(self.count)
        if node_ids is not None:
            where = {node_id: row for row, node_id in enumerate(self._all_ids())}
            rows = [where[i] for i in node_ids if i in where]
        nodes = [self._node(row, with_embedding=True) for row in rows]
        if filters is not None:
            metadata = {n.node_id: n.metadata for n in nodes}
            keep = build_metadata_filter_fn(metadata.__getitem__, filters)
            nodes = [n for n in nodes if keep(n.node_id)]
        return nodes

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        if query.mode != VectorStoreQueryMode.DEFAULT:
            raise NotImplementedError(f"NumpyVectorStore answers dense queries only, not mode={query.mode.value!r}.")
        if query.query_embedding is None:
            raise ValueError("NumpyVectorStore needs a query embedding.")
        if not self.count:
            return VectorStoreQueryResult(nodes=[], similarities=[], ids=[])
        q = np.asarray(query.query_embedding, dtype=np.float32)
        if q.shape != (self._vectors.shape[1],):
            raise ValueError(
                f"Query vector has {q.size} dimensions but the store holds {self._vectors.shape[1]}-d vectors: "
                "the query was embedded with a different model than the stored nodes."
            )
        scores = np.asarray(self._vectors @ (q / (np.linalg.norm(q) or 1.0)))
        allowed = self._allowed_rows(query)
        if allowed is not None:
            scores = np.where(allowed, scores, -np.inf)
        k = min(query.similarity_top_k, int(np.isfinite(scores).sum()))
        if k <= 0:
            return VectorStoreQueryResult(nodes=[], similarities=[], ids=[])
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        nodes = [self._node(int(row)) for row in top]
        return VectorStoreQueryResult(
            nodes=nodes, similarities=[float(scores[row]) for row in top], ids=[n.node_id for n in nodes]
        )

    def _allowed_rows(self, query: VectorStoreQuery) -> np.ndarray | None:
        """Rows that pass ``node_ids``, ``doc_ids`` and metadata ``filters`` (None: all rows)."""
        if not (query.node_ids or query.doc_ids or query.filters):
            return None
        records = [self._record(i) for i in range(self.count)]
        allowed = np.ones(len(records), dtype=bool)
        if query.node_ids:
            wanted = set(query.node_ids)
            allowed &= [r["id"] in wanted for r in records]
        if query.doc_ids:
            docs = set(query.doc_ids)
            allowed &= [r["node"].get("ref_doc_id") in docs for r in records]
        if query.filters:
            metadata = {r["id"]: r["node"] for r in records}
            keep = build_metadata_filter_fn(metadata.__getitem__, query.filters)
            allowed &= [keep(r["id"]) for r in records]
        return allowed

    # files --------------------------------------------------------------------------------
    def persist(self, persist_path: str, fs: fsspec.AbstractFileSystem | None = None) -> None:
        fs = _filesystem(fs)
        stem = _stem(persist_path)
        fs.makedirs(os.path.dirname(persist_path) or ".", exist_ok=True)
        _write(fs, stem + ".npy", lambda f: np.save(f, np.asarray(self._vectors)))
        _write(fs, stem + ".offsets.npy", lambda f: np.save(f, self._offsets))
        _write(fs, stem + ".jsonl", lambda f: f.write(self._buffer))
        manifest = {
            "format": NUMPY_STORE_FORMAT,
            "count": self.count,
            "dim": int(self._vectors.shape[1]) if self.count else 0,
            "files": [os.path.basename(stem) + suffix for suffix in (".npy", ".jsonl", ".offsets.npy")],
        }
        # last: after a crash before this line, the old manifest disagrees with the files and loading says so
        _write(fs, stem + MANIFEST_SUFFIX, lambda f: f.write(json.dumps(manifest, indent=1).encode()))

    @classmethod
    def from_persist_path(
        cls, persist_path: str, fs: fsspec.AbstractFileSystem | None = None
    ) -> NumpyVectorStore:
        fs = _filesystem(fs)
        stem = _stem(persist_path)
        manifest_path = stem + MANIFEST_SUFFIX
        if not fs.exists(manifest_path):
            raise FileNotFoundError(
                f"No NumpyVectorStore at {persist_path}: {manifest_path} does not exist. Persist one there first "
                "with index.storage_context.persist(persist_dir)."
            )
        with fs.open(manifest_path, "rb") as f:
            manifest = json.loads(f.read())
        if not isinstance(manifest, dict) or manifest.get("format") != NUMPY_STORE_FORMAT:
            raise ValueError(
                f"{manifest_path} is not a NumpyVectorStore manifest (no \"format\": {NUMPY_STORE_FORMAT!r})."
            )
        if _is_local(fs):
            vectors = np.load(stem + ".npy", mmap_mode="r")
            offsets = np.load(stem + ".offsets.npy")
            buffer = _map(stem + ".jsonl")
        else:
            with fs.open(stem + ".npy", "rb") as f:
                vectors = np.load(f)
            with fs.open(stem + ".offsets.npy", "rb") as f:
                offsets = np.load(f)
            with fs.open(stem + ".jsonl", "rb") as f:
                buffer = f.read()
        count, dim = manifest["count"], manifest["dim"]
        if len(offsets) != count + 1 or offsets[-1] != len(buffer) or (count and vectors.shape != (count, dim)):
            raise ValueError(
                f"{manifest_path} lists {count} nodes of {dim} dimensions, but the files beside it hold "
                f"{len(offsets) - 1} line offsets, {len(buffer)} bytes of lines (expected {offsets[-1]}) and a "
                f"{vectors.shape} matrix: the store was only partly written. Persist it again."
            )
        return cls(vectors=vectors, buffer=buffer, offsets=offsets)

    @classmethod
    def from_persist_dir(
        cls, persist_dir: str | os.PathLike[str], namespace: str = "default",
        fs: fsspec.AbstractFileSystem | None = None,
    ) -> NumpyVectorStore:
        """Load the store that ``StorageContext.persist(persist_dir)`` wrote for ``namespace``."""
        return cls.from_persist_path(os.path.join(str(persist_dir), f"{namespace}__vector_store.json"), fs=fs)


def _filesystem(fs: Any) -> Any:
    if fs is not None:
        return fs
    import fsspec

    return fsspec.filesystem("file")


def _is_local(fs: Any) -> bool:
    from fsspec.implementations.local import LocalFileSystem

    return isinstance(fs, LocalFileSystem)


def _write(fs: Any, path: str, write: Any) -> None:
    """Write ``path`` through ``write(file)``; locally via a temporary name and an atomic rename.

    The rename also protects readers that memory-mapped the old file: they keep the old contents.
    """
    if not _is_local(fs):
        with fs.open(path, "wb") as f:
            write(f)
        return
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            write(f)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _map(path: str) -> Any:
    """The file's bytes as a read-only memory map (``b""`` for an empty file, which cannot be mapped)."""
    import mmap

    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            return b""
        return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)


def _stem(persist_path: str) -> str:
    return persist_path[: -len(".json")] if persist_path.endswith(".json") else persist_path


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

        return all(find_spec(module.split(".")[0]) is not None and find_spec(module) is not None for module in self.modules)

    @abstractmethod
    def build(self, nodes: Sequence[BaseNode], persist_dir: Path, embed_model: BaseEmbedding) -> None:
        """Index ``nodes`` (each with ``embedding`` set) and persist everything into ``persist_dir``."""

    @abstractmethod
    def load(self, persist_dir: Path, embed_model: BaseEmbedding) -> Searcher:
        """Open what :meth:`build` persisted, ready to answer queries with text."""


def _check_embedded(nodes: Sequence[BaseNode]) -> None:
    missing = [n.node_id for n in nodes if n.embedding is None]
    if missing:
        raise ValueError(
            f"{len(missing)} node(s) have no embedding (first: {missing[0]!r}); backends here never embed. "
            "Set node.embedding first, e.g. from persistlab.simulator.embed_vectors(...)."
        )


def _check_dir(persist_dir: Path, expected: str) -> None:
    if not Path(persist_dir, expected).exists():
        raise FileNotFoundError(f"{persist_dir} holds no {expected}: build and persist this store there first.")


class JsonBackend(Backend):
    name = "json"
    description = "default JSON (SimpleVectorStore)"

    def build(self, nodes: Sequence[BaseNode], persist_dir: Path, embed_model: BaseEmbedding) -> None:
        from llama_index.core import StorageContext, VectorStoreIndex

        _check_embedded(nodes)
        index = VectorStoreIndex(list(nodes), storage_context=StorageContext.from_defaults(), embed_model=embed_model)
        index.storage_context.persist(persist_dir=str(persist_dir))

    def load(self, persist_dir: Path, embed_model: BaseEmbedding) -> Searcher:
        from llama_index.core import StorageContext, load_index_from_storage

        _check_dir(persist_dir, "docstore.json")
        context = StorageContext.from_defaults(persist_dir=str(persist_dir))
        return IndexSearcher(load_index_from_storage(context, embed_model=embed_model))


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
        from llama_index.core import StorageContext, VectorStoreIndex

        _check_embedded(nodes)
        context = StorageContext.from_defaults(vector_store=self._store(len(nodes[0].get_embedding())))
        VectorStoreIndex(list(nodes), storage_context=context, embed_model=embed_model)
        context.persist(persist_dir=str(persist_dir))

    def load(self, persist_dir: Path, embed_model: BaseEmbedding) -> Searcher:
        from llama_index.core import StorageContext, load_index_from_storage
        from llama_index.vector_stores import faiss as integration

        _check_dir(persist_dir, "default__vector_store.json")
        store = getattr(integration, self.store_class).from_persist_dir(str(persist_dir))
        context = StorageContext.from_defaults(vector_store=store, persist_dir=str(persist_dir))
        return IndexSearcher(load_index_from_storage(context, embed_model=embed_model))


class FaissMapBackend(FaissBackend):
    """``FaissMapVectorStore``: the same flat index behind an id map, so that nodes can be deleted."""

    name = "faiss_map"
    description = "FAISS IDMap2 flat IP + docstore.json (deletes)"
    store_class = "FaissMapVectorStore"

    def _store(self, dim: int) -> Any:
        import faiss
        from llama_index.vector_stores.faiss import FaissMapVectorStore

        return FaissMapVectorStore(faiss_index=faiss.IndexIDMap2(faiss.IndexFlatIP(dim)))


def chroma_settings() -> Any:
    """Chroma client settings with anonymous telemetry off (and ``ANONYMIZED_TELEMETRY=False`` set)."""
    os.environ["ANONYMIZED_TELEMETRY"] = "False"
    from chromadb.config import Settings

    return Settings(anonymized_telemetry=False)


class ChromaBackend(Backend):
    name = "chroma"
    description = "Chroma PersistentClient (stores text)"
    modules = ("llama_index.core", "chromadb", "llama_index.vector_stores.chroma")

    def build(self, nodes: Sequence[BaseNode], persist_dir: Path, embed_model: BaseEmbedding) -> None:
        import chromadb
        from llama_index.core import StorageContext, VectorStoreIndex
        from llama_index.vector_stores.chroma import ChromaVectorStore

        _check_embedded(nodes)
        client = chromadb.PersistentClient(path=str(persist_dir), settings=chroma_settings())
        try:
            collection = client.get_or_create_collection(
                CHROMA_COLLECTION, metadata=CHROMA_METADATA, embedding_function=None
            )
            context = StorageContext.from_defaults(vector_store=ChromaVectorStore(chroma_collection=collection))
            VectorStoreIndex(list(nodes), storage_context=context, embed_model=embed_model)
        finally:
            client.close()  # Chroma writes as it goes; closing flushes and releases the files

    def load(self, persist_dir: Path, embed_model: BaseEmbedding) -> Searcher:
        import chromadb
        from llama_index.core import VectorStoreIndex
        from llama_index.vector_stores.chroma import ChromaVectorStore

        _check_dir(persist_dir, "chroma.sqlite3")
        client = chromadb.PersistentClient(path=str(persist_dir), settings=chroma_settings())
        collection = client.get_collection(CHROMA_COLLECTION, embedding_function=None)
        index = VectorStoreIndex.from_vector_store(ChromaVectorStore(chroma_collection=collection), embed_model=embed_model)
        return IndexSearcher(index, on_close=client.close)


STORE_TABLE = "persistlab"
"""Name of the table or collection the LanceDB, Milvus Lite and Qdrant backends write and read."""


def _index_over(store: BasePydanticVectorStore, embed_model: BaseEmbedding, on_close: Any = None) -> IndexSearcher:
    from llama_index.core import VectorStoreIndex

    return IndexSearcher(VectorStoreIndex.from_vector_store(store, embed_model=embed_model), on_close=on_close)


def _build_into(store: BasePydanticVectorStore, nodes: Sequence[BaseNode], embed_model: BaseEmbedding) -> None:
    from llama_index.core import StorageContext, VectorStoreIndex

    VectorStoreIndex(list(nodes), storage_context=StorageContext.from_defaults(vector_store=store), embed_model=embed_model)


class LanceDBBackend(Backend):
    name = "lancedb"
    description = "LanceDB table (stores text; exact search)"
    modules = ("llama_index.core", "lancedb", "llama_index.vector_stores.lancedb")

    def build(self, nodes: Sequence[BaseNode], persist_dir: Path, embed_model: BaseEmbedding) -> None:
        from llama_index.vector_stores.lancedb import LanceDBVectorStore

        _check_embedded(nodes)
        _build_into(LanceDBVectorStore(uri=str(persist_dir), table_name=STORE_TABLE, mode="overwrite"), nodes, embed_model)

    def load(self, persist_dir: Path, embed_model: BaseEmbedding) -> Searcher:
        from llama_index.vector_stores.lancedb import LanceDBVectorStore

        _check_dir(persist_dir, f"{STORE_TABLE}.lance")
        return _index_over(LanceDBVectorStore(uri=str(persist_dir), table_name=STORE_TABLE), embed_model)


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

        return MilvusVectorStore(uri=str(Path(persist_dir) / self.file_name), collection_name=STORE_TABLE,
                                 dim=dim, overwrite=overwrite, similarity_metric="IP")

    def build(self, nodes: Sequence[BaseNode], persist_dir: Path, embed_model: BaseEmbedding) -> None:
        _check_embedded(nodes)
        Path(persist_dir).mkdir(parents=True, exist_ok=True)
        store = self._store(persist_dir, len(nodes[0].get_embedding()), overwrite=True)
        try:
            _build_into(store, nodes, embed_model)
        finally:
            store.client.close()

    def load(self, persist_dir: Path, embed_model: BaseEmbedding) -> Searcher:
        _check_dir(persist_dir, self.file_name)
        store = self._store(persist_dir, None, overwrite=False)
        store.client.load_collection(STORE_TABLE)  # a reopened file's collection starts released: not searchable
        return _index_over(store, embed_model, on_close=store.client.close)


class QdrantLocalBackend(Backend):
    name = "qdrant"
    description = "Qdrant local mode (stores text)"
    modules = ("llama_index.core", "qdrant_client", "llama_index.vector_stores.qdrant")

    def build(self, nodes: Sequence[BaseNode], persist_dir: Path, embed_model: BaseEmbedding) -> None:
        from llama_index.vector_stores.qdrant import QdrantVectorStore
        from qdrant_client import QdrantClient

        _check_embedded(nodes)
        client = QdrantClient(path=str(persist_dir))
        try:
            _build_into(QdrantVectorStore(collection_name=STORE_TABLE, client=client), nodes, embed_model)
        finally:
            client.close()

    def load(self, persist_dir: Path, embed_model: BaseEmbedding) -> Searcher:
        from llama_index.vector_stores.qdrant import QdrantVectorStore
        from qdrant_client import QdrantClient

        _check_dir(persist_dir, "collection")
        client = QdrantClient(path=str(persist_dir))
        return _index_over(QdrantVectorStore(collection_name=STORE_TABLE, client=client), embed_model, on_close=client.close)


class NumpyBackend(Backend):
    name = "numpy"
    description = "NumpyVectorStore (persistlab; memory-mapped .npy + JSON lines)"

    def build(self, nodes: Sequence[BaseNode], persist_dir: Path, embed_model: BaseEmbedding) -> None:
        from llama_index.core import StorageContext, VectorStoreIndex

        _check_embedded(nodes)
        context = StorageContext.from_defaults(vector_store=NumpyVectorStore())
        VectorStoreIndex(list(nodes), storage_context=context, embed_model=embed_model)
        context.persist(persist_dir=str(persist_dir))

    def load(self, persist_dir: Path, embed_model: BaseEmbedding) -> Searcher:
        from llama_index.core import VectorStoreIndex

        store = NumpyVectorStore.from_persist_dir(persist_dir)
        return IndexSearcher(VectorStoreIndex.from_vector_store(store, embed_model=embed_model))


class FloorBackend(Backend):
    name = "floor"
    description = "raw numpy floor (np.load + JSON texts)"
    modules = ()

    def build(self, nodes: Sequence[BaseNode], persist_dir: Path, embed_model: BaseEmbedding) -> None:
        _check_embedded(nodes)
        persist_dir = Path(persist_dir)
        persist_dir.mkdir(parents=True, exist_ok=True)
        np.save(persist_dir / "vectors.npy", np.asarray([n.get_embedding() for n in nodes], dtype=np.float32))
        texts = {"ids": [n.node_id for n in nodes], "texts": [n.get_content() for n in nodes]}
        (persist_dir / "texts.json").write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")

    def load(self, persist_dir: Path, embed_model: BaseEmbedding | None = None) -> Searcher:
        persist_dir = Path(persist_dir)
        _check_dir(persist_dir, "vectors.npy")
        vectors = np.load(persist_dir / "vectors.npy")
        texts = json.loads((persist_dir / "texts.json").read_text(encoding="utf-8"))
        return FloorSearcher(vectors, texts["ids"], texts["texts"])


BACKENDS: dict[str, Backend] = {b.name: b for b in (
    JsonBackend(), FaissBackend(), FaissMapBackend(), ChromaBackend(), LanceDBBackend(), MilvusLiteBackend(),
    QdrantLocalBackend(), NumpyBackend(), FloorBackend(),
)}
"""Every backend by name, in the order tables list them."""


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
