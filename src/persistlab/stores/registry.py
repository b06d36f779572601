"""Every vector store the benchmark measures, by name: the stores lesson 08 compares and those only the bench
group installs."""

from __future__ import annotations

from persistlab.stores.adapters import (
    Backend,
    ChromaBackend,
    FaissBackend,
    FaissMapBackend,
    FloorBackend,
    JsonBackend,
    NumpyBackend,
)
from persistlab.stores.bench_adapters import LanceDBBackend, MilvusLiteBackend, QdrantLocalBackend

BACKENDS: dict[str, Backend] = {
    b.name: b
    for b in (
        JsonBackend(),
        FaissBackend(),
        FaissMapBackend(),
        ChromaBackend(),
        LanceDBBackend(),
        MilvusLiteBackend(),
        QdrantLocalBackend(),
        NumpyBackend(),
        FloorBackend(),
    )
}
"""Every benchmark backend by name, in the order tables list them."""


def backend(name: str) -> Backend:
    """The backend called ``name``; ValueError listing the known names otherwise."""
    try:
        return BACKENDS[name]
    except KeyError:
        raise ValueError(f"Unknown store {name!r}; choose from {', '.join(BACKENDS)}.") from None
