"""Failures injected into a persist (a half-written file, a failed rename, a half-done delete), and their verdict.

The crash at any one write of a whole run is :func:`persistlab.grading.crashpoints.crash_at_write`; this
module adds the failures the exercises name one by one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from persistlab.grading.crashpoints import is_inside
from persistlab.grading.indexes import stored_doc_ids


class InjectedFailure(OSError):
    """A failure the test caused on purpose (like a full disk or a killed process)."""


@dataclass
class Crash:
    """What an injected failure did: ``fired`` is True once it has raised."""

    where: str
    fired: bool = False


@contextlib.contextmanager
def crash_while_writing(file_name: str) -> Iterator[Crash]:
    """The next time a LlamaIndex store writes ``file_name``, leave it half written and raise.

    Covers the docstore, index store, graph store and simple vector stores (file names such as
    ``docstore.json`` or ``default__vector_store.json``); fires once.
    """
    import fsspec
    from llama_index.core.graph_stores.simple import SimpleGraphStore
    from llama_index.core.storage.kvstore.simple_kvstore import SimpleKVStore
    from llama_index.core.vector_stores.simple import SimpleVectorStore

    crash = Crash(f"while writing {file_name}")
    originals = {cls: cls.persist for cls in (SimpleKVStore, SimpleVectorStore, SimpleGraphStore)}

    def patched(original: Callable[..., None]) -> Callable[..., None]:
        def persist(self: Any, persist_path: str, fs: Any = None, **kwargs: Any) -> None:
            original(self, persist_path, fs=fs, **kwargs)
            if crash.fired or Path(str(persist_path)).name != file_name:
                return
            target = fs or fsspec.filesystem("file")
            with target.open(persist_path, "rb") as f:
                content = f.read()
            with target.open(persist_path, "wb") as f:
                f.write(content[: len(content) // 2])
            crash.fired = True
            raise InjectedFailure(f"Injected failure {crash.where}: the process died half-way through the file.")

        return persist

    for cls, original in originals.items():
        setattr(cls, "persist", patched(original))  # noqa: B010 (mypy: a method)
    try:
        yield crash
    finally:
        for cls, original in originals.items():
            setattr(cls, "persist", original)  # noqa: B010


@contextlib.contextmanager
def crash_on_rename(nth: int, under: Path) -> Iterator[Crash]:
    """Make the ``nth`` rename (``os.rename``/``os.replace``, so also ``Path.rename``, ``Path.replace``,
    ``shutil.move``) of a path inside ``under`` raise before it happens. Other renames run normally."""
    crash = Crash(f"at rename number {nth}")
    real_rename, real_replace = os.rename, os.replace
    seen = 0

    def guarded(real: Callable[..., None]) -> Callable[..., None]:
        def rename(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
            nonlocal seen
            if is_inside(src, under) or is_inside(dst, under):
                seen += 1
                if seen == nth:
                    crash.fired = True
                    raise InjectedFailure(f"Injected failure {crash.where} ({src} -> {dst}).")
            real(src, dst, *args, **kwargs)

        return rename

    os.rename, os.replace = guarded(real_rename), guarded(real_replace)
    try:
        yield crash
    finally:
        os.rename, os.replace = real_rename, real_replace


@contextlib.contextmanager
def crash_on_delete(under: Path) -> Iterator[Crash]:
    """Make the first ``shutil.rmtree`` of a folder inside ``under`` delete one file, then raise."""
    crash = Crash("half-way through deleting a folder")
    real_rmtree = shutil.rmtree

    def rmtree(path: Any, *args: Any, **kwargs: Any) -> None:
        if crash.fired or not is_inside(path, under) or not Path(os.fsdecode(path)).exists():
            return real_rmtree(path, *args, **kwargs)
        files = sorted(p for p in Path(os.fsdecode(path)).rglob("*") if p.is_file())
        if files:
            files[0].unlink()
        crash.fired = True
        raise InjectedFailure(f"Injected failure {crash.where} ({path}).")

    shutil.rmtree = rmtree  # type: ignore[assignment]  # replaced for the block, restored after
    try:
        yield crash
    finally:
        shutil.rmtree = real_rmtree


def damage(persist_dir: Path, file_name: str, how: str) -> Path:
    """Damage one file of a persisted index the way crashes do; returns its path.

    ``how``: ``"truncate"`` (keep the first half), ``"empty"`` (zero bytes), ``"delete"``, or
    ``"garbage"`` (bytes that are not JSON).
    """
    path = Path(persist_dir) / file_name
    if how == "truncate":
        content = path.read_bytes()
        path.write_bytes(content[: len(content) // 2])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "delete":
        path.unlink()
    elif how == "garbage":
        path.write_bytes(b"\x00\x17 not json \xff")
    else:
        raise ValueError(f"how={how!r}: use 'truncate', 'empty', 'delete' or 'garbage'.")
    return path


_last_attempted = "the persisting function"


def attempt(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Exception | None:
    """Call ``function``; return the exception it raised, or None. :func:`check_after_crash` names it."""
    global _last_attempted
    _last_attempted = getattr(function, "__name__", _last_attempted)
    try:
        function(*args, **kwargs)
    except Exception as err:  # the caller judges it
        return err
    return None


def check_after_crash(
    crash: Crash,
    error: Exception | None,
    persist_dir: Path,
    old: set[str] | None,
    new: set[str],
    function: str | None = None,
) -> str:
    """Judge a persist that a test tried to crash; return ``"old"``, ``"new"`` or ``"none"``.

    ``function`` names the code under test in the messages (default: the last one given to :func:`attempt`).

    Passes when the failure reached the caller and ``persist_dir`` holds the complete old index (ids
    ``old``) or the complete new one (ids ``new``); with no old index (``old=None``), a missing or
    empty folder also passes. Anything else raises ``AssertionError`` saying what is wrong.
    """
    persist_dir, function = Path(persist_dir), function or _last_attempted
    if error is not None and not crash.fired:
        raise AssertionError(f"{function} failed by itself: {type(error).__name__}: {error}") from error
    if crash.fired and error is None:
        raise AssertionError(
            f"The test made persisting fail {crash.where}, but {function} returned normally: "
            "let the error reach the caller, who must know the new index was not saved."
        )
    if old is None and (not persist_dir.exists() or not any(persist_dir.iterdir())):
        return "none"
    try:
        ids = stored_doc_ids(persist_dir)
    except AssertionError as err:
        raise AssertionError(f"After a failure {crash.where}, persist_dir is not a complete index: {err}") from None
    if ids == new:
        return "new"
    if old is not None and ids == old:
        return "old"
    raise AssertionError(
        f"After a failure {crash.where}, persist_dir holds documents {sorted(ids)}: neither the old index nor the new one."
    )
