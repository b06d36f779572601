"""The course's own vector store: :class:`NumpyVectorStore`, a LlamaIndex vector store kept as a ``.npy``
matrix plus one JSON line per node. (Moved out of :mod:`persistlab.stores` unchanged; ``persistlab.stores``
still offers it.)
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

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

from persistlab.atomic import write_atomically

if TYPE_CHECKING:
    import fsspec

NUMPY_STORE_FORMAT = "persistlab.numpy-vector-store/1"
MANIFEST_SUFFIX = ".manifest.json"


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
        super().__init__(stores_text=True)
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
            json.dumps(
                {"id": n.node_id, "node": node_to_metadata_dict(n, remove_text=False)}, ensure_ascii=False
            ).encode()
            + b"\n"
            for n in nodes
        ]
        self._set_lines([self._line(i) for i in range(self.count)] + new_lines)
        self._vectors = matrix if not len(ids) else np.vstack([self._vectors, matrix])
        ids.extend(n.node_id for n in nodes)
        return [n.node_id for n in nodes]

    def _keep(self, keep: np.ndarray) -> None:
        self._vectors = self._vectors[keep]
        self._set_lines([self._line(int(i)) for i in np.flatnonzero(keep)])
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
    def from_persist_path(cls, persist_path: str, fs: fsspec.AbstractFileSystem | None = None) -> NumpyVectorStore:
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
                f'{manifest_path} is not a NumpyVectorStore manifest (no "format": {NUMPY_STORE_FORMAT!r}).'
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
        cls,
        persist_dir: str | os.PathLike[str],
        namespace: str = "default",
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
    write_atomically(path, write)


def _map(path: str) -> Any:
    """The file's bytes as a read-only memory map (``b""`` for an empty file, which cannot be mapped)."""
    import mmap

    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            return b""
        return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)


def _stem(persist_path: str) -> str:
    return persist_path[: -len(".json")] if persist_path.endswith(".json") else persist_path
