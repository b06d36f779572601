"""Crash a piece of code at its n-th write, to test that the next run neither loses an update nor pays twice.

:func:`crash_at_write` counts every write a program makes inside a folder, in the order it makes them:

- a file opened for writing with ``open()`` / ``io.open`` (so also ``Path.write_text``, ``Path.write_bytes``,
  ``shutil.copy`` and LlamaIndex's store files, which fsspec writes with ``open()``): counted when the file is
  closed; the ``nth`` is cut to half of what was written, then the close raises;
- ``os.replace`` / ``os.rename`` (``Path.replace``, ``Path.rename``, ``shutil.move``): the ``nth`` raises before
  it happens;
- ``os.unlink`` / ``os.remove`` (``Path.unlink``): the ``nth`` raises before it happens;
- ``shutil.rmtree`` and ``shutil.copytree``, one write each: the ``nth`` is left half done (half of the files
  deleted, or copied), then raises.

A crash is a killed process: once it has fired, every later write, rename or delete inside the folder raises
too, until the block ends. A test runs the code once per crash point, ``nth = 1, 2, ...``, until a run ends
without the crash firing::

    with crash_at_write(3, storage_dir) as crash:
        error = attempt(ingest, documents, storage_dir, embed_model)
    if not crash.fired: ...   # the code makes fewer than 3 writes

Writes that bypass Python's file objects are not seen: ``os.open``/``os.write`` on a descriptor, and the files
of a database engine written from native code (Chroma's SQLite and HNSW files). Their folder still counts once
it is copied, renamed or removed. ``chroma_calls=True`` counts Chroma's own writes at the granularity of its public
calls: each ``Collection.add`` / ``upsert`` / ``update`` / ``delete`` and ``create_collection`` /
``delete_collection`` of any client is one write, and the ``nth`` raises before Chroma is called (a crash just after
a call is the crash before the next write). It assumes what Chroma does not let a test check: that each call
is all or nothing (one SQLite transaction).

Every block also measures how much the writes it saw amount to (:attr:`WriteCrash.bytes`,
:attr:`WriteCrash.records`); :func:`count_writes` is the block that only measures, never crashes:

- ``bytes``: what each file opened for writing holds when it is closed (less what an appended file held before),
  and the files a ``copytree`` copies; renames and deletions add nothing;
- ``records`` (with ``chroma_calls``): the records each Chroma write call names: the ids passed to ``add`` /
  ``upsert`` / ``update``, the records a ``delete`` matches (asked with ``Collection.get`` first when it deletes by
  ``where``), one for each ``create_collection`` / ``delete_collection`` (whatever the collection holds).

What Chroma's native code writes for those records (SQLite pages, HNSW files) is not in ``bytes``: it is seen only
as ``records``.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["InjectedCrash", "WriteCrash", "count_writes", "crash_at_write"]

WRITE_MODES = frozenset("wax+")
CHROMA_COLLECTION_WRITES = ("add", "upsert", "update", "delete")
CHROMA_CLIENT_WRITES = ("create_collection", "delete_collection")


class InjectedCrash(OSError):
    """The failure a test injected on purpose (a killed process, a full disk)."""


@dataclass
class WriteCrash:
    """What :func:`crash_at_write` saw: the writes made (in order, up to the crash), whether it fired, and the bytes
    and Chroma records those writes amount to (see the module docstring)."""

    nth: int
    writes: list[str] = field(default_factory=list)
    fired: bool = False
    bytes: int = 0
    records: int = 0

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


def _files(folder: Any) -> list[Path]:
    return sorted(p for p in Path(os.fsdecode(folder)).rglob("*") if p.is_file())


class _Harness:
    """The counting and the crash, shared by the patched functions of one :func:`crash_at_write` block."""

    def __init__(self, nth: int, under: Path, real_open: Callable[..., Any]) -> None:
        self.crash, self.under, self.real_open = WriteCrash(nth), under, real_open
        self.quiet = 0  # > 0 inside a copytree or rmtree, which count as one write

    def watched(self, *paths: Any) -> bool:
        return not self.quiet and any(is_inside(path, self.under) for path in paths)

    def count(self, what: str) -> bool:
        """Record one write; True if it is the one to crash. Raises if the process already died."""
        self.dead()
        self.crash.writes.append(what)
        if len(self.crash.writes) == self.crash.nth:
            self.crash.fired = True
            return True
        return False

    def dead(self) -> None:
        if self.crash.fired:
            raise InjectedCrash(f"Injected crash {self.crash.where}: the process is dead, nothing more is written.")

    def died(self, how: str) -> InjectedCrash:
        return InjectedCrash(f"Injected crash {self.crash.where}: the process died {how}.")

    def cut(self, path: str, keep_from: int) -> None:
        """Leave only half of what was written to ``path`` after its first ``keep_from`` bytes."""
        with self.real_open(path, "rb") as f:
            content = f.read()
        with self.real_open(path, "wb") as f:
            f.write(content[: keep_from + (len(content) - keep_from) // 2])


class _CountedFile:
    """A file opened for writing inside the folder: counted when closed (cut in half and raising if it is the one)."""

    def __init__(self, file: Any, path: str, keep_from: int, harness: _Harness) -> None:
        self._file, self._path, self._keep_from, self._harness = file, path, keep_from, harness
        self._counted = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._file)

    def __enter__(self) -> _CountedFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()
        if self._counted:
            return
        self._counted = True
        with contextlib.suppress(OSError):  # a file removed before it was closed has written nothing that stays
            self._harness.crash.bytes += os.path.getsize(self._path) - self._keep_from
        if self._harness.count(f"writing {Path(self._path).name}"):
            self._harness.cut(self._path, self._keep_from)
            raise self._harness.died("half-way through the file")


@contextlib.contextmanager
def count_writes(under: Path, chroma_calls: bool = False) -> Iterator[WriteCrash]:
    """Count the writes inside ``under`` (and Chroma's, with ``chroma_calls``) and their bytes and records, crashing
    none of them: :func:`crash_at_write` with no crash point."""
    with crash_at_write(0, under, chroma_calls) as counted:
        yield counted


@contextlib.contextmanager
def crash_at_write(nth: int, under: Path, chroma_calls: bool = False) -> Iterator[WriteCrash]:
    """Make the ``nth`` write, rename or delete inside ``under`` (and Chroma call, with ``chroma_calls``) fail (see
    the module docstring)."""
    real_open = builtins.open
    real = {name: getattr(os, name) for name in ("rename", "replace", "unlink", "remove")}
    real_rmtree, real_copytree = shutil.rmtree, shutil.copytree
    harness = _Harness(nth, Path(under), real_open)

    def opened(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if isinstance(file, int) or not WRITE_MODES & set(mode) or not harness.watched(file):
            return real_open(file, mode, *args, **kwargs)
        harness.dead()
        path = os.fsdecode(file)
        keep_from = os.path.getsize(path) if "a" in mode and os.path.exists(path) else 0
        return _CountedFile(real_open(file, mode, *args, **kwargs), path, keep_from, harness)

    def renaming(original: Callable[..., None]) -> Callable[..., None]:
        def rename(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
            if harness.watched(src, dst) and harness.count(f"renaming {Path(os.fsdecode(src)).name}"):
                raise harness.died("before the rename")
            original(src, dst, *args, **kwargs)

        return rename

    def deleting(original: Callable[..., None]) -> Callable[..., None]:
        def unlink(path: Any, *args: Any, **kwargs: Any) -> None:
            if harness.watched(path) and harness.count(f"deleting {Path(os.fsdecode(path)).name}"):
                raise harness.died("before the delete")
            original(path, *args, **kwargs)

        return unlink

    def rmtree(path: Any, *args: Any, **kwargs: Any) -> None:
        if harness.watched(path) and harness.count(f"deleting folder {Path(os.fsdecode(path)).name}"):
            files = _files(path) if os.path.isdir(path) else []
            for file in files[: (len(files) + 1) // 2]:
                real["unlink"](file)
            raise harness.died("half-way through deleting the folder")
        harness.quiet += 1
        try:
            real_rmtree(path, *args, **kwargs)
        finally:
            harness.quiet -= 1

    def copytree(
        src: Any,
        dst: Any,
        symlinks: bool = False,
        ignore: Any = None,
        copy_function: Callable[..., Any] = shutil.copy2,
        ignore_dangling_symlinks: bool = False,
        dirs_exist_ok: bool = False,
    ) -> Any:
        options = {"symlinks": symlinks, "ignore": ignore, "ignore_dangling_symlinks": ignore_dangling_symlinks}
        options["dirs_exist_ok"] = dirs_exist_ok
        if not harness.watched(dst):  # also copytree's own calls for subfolders
            return real_copytree(src, dst, copy_function=copy_function, **options)
        crashing = harness.count(f"copying folder {Path(os.fsdecode(src)).name}")
        budget = len(_files(src)) // 2 if crashing else -1

        def copy(source: Any, target: Any, *more: Any, **given: Any) -> Any:
            nonlocal budget
            if budget == 0:
                raise harness.died("half-way through copying the folder")
            budget -= 1
            harness.crash.bytes += os.path.getsize(source)
            return copy_function(source, target, *more, **given)

        harness.quiet += 1
        try:
            result = real_copytree(src, dst, copy_function=copy, **options)
        except shutil.Error as error:  # copytree gathers its files' errors and raises them at the end
            if crashing:
                raise harness.died("half-way through copying the folder") from error
            raise
        finally:
            harness.quiet -= 1
        if crashing:
            raise harness.died("half-way through copying the folder")
        return result

    patched: dict[tuple[Any, str], Any] = {
        (builtins, "open"): opened,
        (io, "open"): opened,
        (os, "rename"): renaming(real["rename"]),
        (os, "replace"): renaming(real["replace"]),
        (os, "unlink"): deleting(real["unlink"]),
        (os, "remove"): deleting(real["remove"]),
        (shutil, "rmtree"): rmtree,
        (shutil, "copytree"): copytree,
    }
    if chroma_calls:
        patched.update(_chroma_writes(harness))
    rmtree.avoids_symlink_attacks = shutil.rmtree.avoids_symlink_attacks  # type: ignore[attr-defined]  # rmtree's public flag
    originals = {key: getattr(*key) for key in patched}
    for (module, name), function in patched.items():
        setattr(module, name, function)
    try:
        yield harness.crash
    finally:
        for (module, name), function in originals.items():
            setattr(module, name, function)


def _chroma_writes(harness: _Harness) -> dict[tuple[Any, str], Any]:
    """Chroma's public write calls, each counted as one write that crashes before it is made."""
    from chromadb.api.client import Client
    from chromadb.api.models.Collection import Collection

    def counted(kind: Any, name: str) -> Callable[..., Any]:
        original = getattr(kind, name)

        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            if harness.count(f"Chroma {name}"):
                raise harness.died(f"before Chroma's {name}")
            harness.crash.records += _records(self, name, *args, **kwargs)
            return original(self, *args, **kwargs)

        return call

    return {(Collection, name): counted(Collection, name) for name in CHROMA_COLLECTION_WRITES} | {
        (Client, name): counted(Client, name) for name in CHROMA_CLIENT_WRITES
    }


def _records(collection: Any, name: str, *args: Any, **kwargs: Any) -> int:
    """How many records a Chroma write call names (one for a whole collection created or deleted)."""
    if name in CHROMA_CLIENT_WRITES:
        return 1
    given = dict(zip(("ids", "where", "where_document"), args, strict=False)) | kwargs  # delete's order; ids first
    ids, where = given.get("ids"), {key: given.get(key) for key in ("where", "where_document")}
    if name == "delete" and any(where.values()):
        return len(collection.get(ids=ids, **where, include=[])["ids"])  # what the delete will match
    return 1 if isinstance(ids, str) else len(ids or [])
