"""Vector stores for the lessons and the benchmark.

- :mod:`.numpy_store`: :class:`NumpyVectorStore`, the course's own store (a ``.npy`` matrix and a JSON line a node);
- :mod:`.adapters`: each store the benchmark measures behind one interface (build and persist, load, query), and
  the Chroma settings the course uses; :mod:`.bench_adapters`: the stores only the bench group installs;
- :mod:`.registry`: every adapter by name; :mod:`.bench` and :mod:`.bench_report`: the measurements and their tables;
- :mod:`.persisted`: an index persisted with the default stores read back with its vectors, to move it elsewhere;
- :mod:`.local_servers`: Chroma and S3 servers on loopback.

The names lessons use are importable from here (``from persistlab import stores``; ``stores.chroma_settings()``);
each loads its module on first use, so importing one part does not import every store's client.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_SURFACE = {
    "NumpyVectorStore": "numpy_store",
    "BACKENDS": "registry",
    "backend": "registry",
    "CHROMA_COLLECTION": "adapters",
    "CHROMA_CONFIGURATION": "adapters",
    "CHROMA_HNSW": "adapters",
    "CHROMA_METADATA": "adapters",
    "brute_force_ids": "adapters",
    "chroma_settings": "adapters",
    "nodes_with_embeddings": "persisted",
    "simple_vector_stores": "persisted",
}

__all__ = list(_SURFACE)


def __getattr__(name: str) -> Any:
    if name in _SURFACE:
        return getattr(import_module(f"persistlab.stores.{_SURFACE[name]}"), name)
    raise AttributeError(f"module 'persistlab.stores' has no attribute {name!r}")
