"""Crash a piece of code at its n-th write, to test that the next run neither loses an update nor pays twice.

:func:`crash_at_write` counts every write a LlamaIndex store makes to a file inside a folder (docstore,
index store, graph store, simple vector stores, an ingestion pipeline's ``llama_cache``) and every rename
or replace of a path inside it. The ``nth`` such write is left half written and raises; the ``nth`` rename
raises before it happens. A test runs the code once per crash point, ``nth = 1, 2, ...``, until a run ends
without the crash firing::

    with crash_at_write(3, storage_dir) as crash:
        error = attempt(ingest, documents, storage_dir, embed_model)
    if not crash.fired: ...   # the code makes fewer than 3 writes

Writes made with plain ``open()`` (a small pointer file, say) are not counted; the rename that commits
them is.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["InjectedCrash", "WriteCrash", "crash_at_write"]


class InjectedCrash(OSError):
    """The failure a test injected on purpose (a killed process, a full disk)."""


@dataclass
class WriteCrash:
    """What :func:`crash_at_write` saw: the writes made (in order) and whether it fired."""

    nth: int
    writes: list[str] = field(default_factory=list)
    fired: bool = False

    @property
    def where(self) -> str:
        last = self.writes[self.nth - 1] if self.fired else "none"
        return f"at write {self.nth} ({last})"


def is_inside(path: Any, root: Path) -> bool:
    """Whether ``path`` (str, bytes or PathLike) lies inside the folder ``root``."""
    try:
        return Path(os.fsdecode(path)).resolve().is_relative_to(root.resolve())
    except (TypeError, ValueError):
        return False


@contextlib.contextmanager
def crash_at_write(nth: int, under: Path) -> Iterator[WriteCrash]:
    """Make the ``nth`` store write or rename inside ``under`` fail (see the module docstring)."""
    import fsspec
    from llama_index.core.graph_stores.simple import SimpleGraphStore
    from llama_index.core.storage.kvstore.simple_kvstore import SimpleKVStore
    from llama_index.core.vector_stores.simple import SimpleVectorStore

    crash = WriteCrash(nth)
    persists = {cls: cls.persist for cls in (SimpleKVStore, SimpleVectorStore, SimpleGraphStore)}
    real_rename, real_replace = os.rename, os.replace

    def count(what: str) -> bool:
        """Record one write; True if it is the one to crash."""
        crash.writes.append(what)
        if len(crash.writes) == nth and not crash.fired:
            crash.fired = True
            return True
        return False

    def patched_persist(original: Callable[..., None]) -> Callable[..., None]:
        def persist(self: Any, persist_path: str, fs: Any = None, **kwargs: Any) -> None:
            original(self, persist_path, fs=fs, **kwargs)
            if fs is not None or not is_inside(persist_path, under) or not count(f"writing {Path(persist_path).name}"):
                return
            target = fsspec.filesystem("file")
            with target.open(persist_path, "rb") as f:
                content = f.read()
            with target.open(persist_path, "wb") as f:
                f.write(content[: len(content) // 2])
            raise InjectedCrash(f"Injected crash {crash.where}: the process died half-way through the file.")

        return persist

    def patched_rename(real: Callable[..., None]) -> Callable[..., None]:
        def rename(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
            if (is_inside(src, under) or is_inside(dst, under)) and count(f"renaming {Path(os.fsdecode(src)).name}"):
                raise InjectedCrash(f"Injected crash {crash.where}: the process died before the rename.")
            real(src, dst, *args, **kwargs)

        return rename

    for cls, original in persists.items():
        cls.persist = patched_persist(original)  # type: ignore[method-assign]  # replaced for the block, restored after
    os.rename, os.replace = patched_rename(real_rename), patched_rename(real_replace)
    try:
        yield crash
    finally:
        for cls, original in persists.items():
            cls.persist = original  # type: ignore[method-assign]  # replaced for the block, restored after
        os.rename, os.replace = real_rename, real_replace
