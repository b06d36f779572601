"""``crash_at_write`` crashes every kind of write inside the folder, and only there.

Plain writes (``open``, ``Path.write_text``/``write_bytes``, appends) are cut to half of what was written,
renames and deletes fail before they happen, ``rmtree`` and ``copytree`` stop half-way, and after the crash the
process is dead: nothing more is written inside the folder. A pointer file written in place is caught; the same
pointer written to a temporary file and moved with ``os.replace`` survives every crash point. ``count_writes`` measures
the bytes and Chroma records those writes amount to.
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from llama_index.core import Document, StorageContext, VectorStoreIndex, load_index_from_storage

from persistlab.grading.crashpoints import InjectedCrash, count_writes, crash_at_write

pytestmark = pytest.mark.usefixtures("small_vectors")


def run(nth: int, folder: Path, program: Callable[[Path], None]) -> tuple[list[str], InjectedCrash | None]:
    with crash_at_write(nth, folder) as crash:
        try:
            program(folder)
        except InjectedCrash as error:
            assert crash.fired
            return crash.writes, error
    assert not crash.fired
    return crash.writes, None


def test_each_kind_of_write_is_one_crash_point_in_order(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for n in range(4):
        (source / f"{n}.txt").write_text("x" * 10)

    def program(folder: Path) -> None:
        (folder / "a.txt").write_text("0123456789")
        (folder / "b.bin").write_bytes(b"0123456789")
        with open(folder / "a.txt", "a", encoding="utf-8") as f:
            f.write("abcdefghij")
        with (folder / "c.txt").open("w", encoding="utf-8") as f:  # io.open
            f.write("0123456789")
        shutil.copytree(source, folder / "copy")
        os.replace(folder / "c.txt", folder / "d.txt")
        Path(folder / "b.bin").unlink()
        shutil.rmtree(folder / "copy")

    folder = tmp_path / "clean"
    folder.mkdir()
    writes, error = run(10**6, folder, program)
    assert error is None and writes == [
        "writing a.txt",
        "writing b.bin",
        "writing a.txt",
        "writing c.txt",
        "copying folder source",
        "renaming c.txt",
        "deleting b.bin",
        "deleting folder copy",
    ]

    def state(nth: int) -> dict[str, bytes]:
        folder = tmp_path / f"crash-{nth}"
        folder.mkdir()
        writes, error = run(nth, folder, program)
        assert error is not None and len(writes) == nth and f"at write {nth} ({writes[-1]})" in str(error)
        return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}

    assert state(1) == {"a.txt": b"01234"}  # half written
    assert state(2)["b.bin"] == b"01234"
    assert state(3)["a.txt"] == b"0123456789abcde"  # half of what the append added
    assert state(4)["c.txt"] == b"01234"
    assert len([f for f in state(5) if f.startswith("copy/")]) == 2  # half the files
    assert {"c.txt", "d.txt"} & set(state(6)) == {"c.txt"}  # the rename did not happen
    assert "b.bin" in state(7)
    assert len([f for f in state(8) if f.startswith("copy/")]) == 2  # half deleted


def test_after_the_crash_nothing_more_is_written_and_outside_the_folder_nothing_is_counted(tmp_path: Path) -> None:
    folder, outside = tmp_path / "folder", tmp_path / "outside"
    folder.mkdir()
    outside.mkdir()
    (folder / "read.txt").write_text("reads are not writes")
    real_replace = os.replace
    with crash_at_write(1, folder) as crash:
        (outside / "free.txt").write_text("not counted")
        assert (folder / "read.txt").read_text() == "reads are not writes"
        with pytest.raises(InjectedCrash, match="half-way through the file"):
            (folder / "first.txt").write_text("0123456789")
        for late in (
            lambda: (folder / "late.txt").write_text("x"),  # a handler that goes on writing: the process is dead
            lambda: os.replace(folder / "first.txt", folder / "moved.txt"),
            lambda: os.unlink(folder / "first.txt"),
            lambda: shutil.rmtree(folder),
        ):
            with pytest.raises(InjectedCrash, match="the process is dead"):
                late()
        (outside / "after.txt").write_text("still free")
    assert crash.writes == ["writing first.txt"]
    assert sorted(p.name for p in folder.iterdir()) == ["first.txt", "read.txt"]
    assert (outside / "after.txt").read_text() == "still free"
    assert os.replace is real_replace and open is io.open, "the block did not put the real functions back"


def test_llama_index_store_files_are_each_one_write(tmp_path: Path) -> None:
    index = VectorStoreIndex.from_documents([Document(id_="a.md", text="Salt draws water out of fish.")])
    with crash_at_write(10**6, tmp_path) as crash:
        index.storage_context.persist(persist_dir=str(tmp_path / "index"))
    names = sorted(write.removeprefix("writing ") for write in crash.writes)
    assert names == sorted(p.name for p in (tmp_path / "index").iterdir()), crash.writes  # each once
    assert "docstore.json" in names and "default__vector_store.json" in names


# Two ways to publish a new version of an index behind a pointer file: the pointer written in place, or written
# to a temporary file and moved over the old pointer with os.replace (the way the lessons teach).


def publish_in_place(folder: Path, index: VectorStoreIndex, version: str) -> None:
    index.storage_context.persist(persist_dir=str(folder / version))
    (folder / "CURRENT").write_text(version, encoding="utf-8")


def publish_with_replace(folder: Path, index: VectorStoreIndex, version: str) -> None:
    index.storage_context.persist(persist_dir=str(folder / version))
    (folder / "CURRENT.tmp").write_text(version, encoding="utf-8")
    os.replace(folder / "CURRENT.tmp", folder / "CURRENT")


def published(folder: Path) -> set[str]:
    """The documents a reader finds behind CURRENT; AssertionError if it finds no complete index."""
    version = (folder / "CURRENT").read_text(encoding="utf-8").strip()
    try:
        index = load_index_from_storage(StorageContext.from_defaults(persist_dir=str(folder / version)))
    except (OSError, ValueError, KeyError) as error:
        raise AssertionError(f"CURRENT names {version!r}, which does not load: {error!r}") from error
    return set(index.ref_doc_info)


def every_crash_leaves_old_or_new(publish: Callable[[Path, VectorStoreIndex, str], None], tmp_path: Path) -> int:
    old = VectorStoreIndex.from_documents([Document(id_="old.md", text="Jam keeps because sugar binds water.")])
    new = VectorStoreIndex.from_documents([Document(id_="new.md", text="Vinegar makes food too acidic.")])
    base = tmp_path / "base"
    publish(base, old, "v1")
    for nth in range(1, 30):
        folder = tmp_path / f"crash-{nth}"
        shutil.copytree(base, folder)
        writes, error = run(nth, folder, lambda f: publish(f, new, "v2"))
        if error is None:
            assert published(folder) == {"new.md"}
            return nth - 1
        try:
            found = published(folder)
        except AssertionError as problem:
            raise AssertionError(f"after a crash at {writes[-1]}: {problem}") from None
        assert found in ({"old.md"}, {"new.md"}), f"after a crash at {writes[-1]}: {found}"
    raise AssertionError("publish made more than 30 writes")


def test_a_pointer_written_in_place_is_caught(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match=r"after a crash at writing CURRENT: CURRENT names 'v'"):
        every_crash_leaves_old_or_new(publish_in_place, tmp_path)


def test_a_pointer_moved_into_place_with_os_replace_survives_every_crash(tmp_path: Path) -> None:
    crashes = every_crash_leaves_old_or_new(publish_with_replace, tmp_path)
    assert crashes >= 7, crashes  # the store files, CURRENT.tmp and the rename


def test_chroma_calls_count_each_public_write_call_and_crash_before_it(tmp_path: Path) -> None:
    import chromadb

    from persistlab import stores

    client = chromadb.PersistentClient(path=str(tmp_path / "chroma"), settings=stores.chroma_settings())
    notes = client.create_collection("notes", embedding_function=None)
    with crash_at_write(1, tmp_path) as ignored:
        notes.add(ids=["a"], embeddings=[[1.0, 0.0]], documents=["a"])
    assert not ignored.writes, "without chroma_calls, Chroma's native writes are not seen"
    with crash_at_write(2, tmp_path, chroma_calls=True) as crash:
        notes.upsert(ids=["b"], embeddings=[[0.0, 1.0]], documents=["b"])
        with pytest.raises(InjectedCrash, match="before Chroma's update"):
            notes.update(ids=["a"], metadatas=[{"retired": 2}])
        with pytest.raises(InjectedCrash):  # the process is dead
            client.delete_collection("notes")
    assert crash.writes == ["Chroma upsert", "Chroma update"]
    assert notes.get(ids=["a"], include=["metadatas"])["metadatas"] == [None], "the crashed update was made"


def test_count_writes_measures_bytes_and_chroma_records_and_crashes_nothing(tmp_path: Path) -> None:
    import chromadb

    from persistlab import stores

    folder, source = tmp_path / "index", tmp_path / "source"
    folder.mkdir(), source.mkdir()
    (source / "one").write_bytes(b"1" * 50), (source / "two").write_bytes(b"2" * 40)
    notes = chromadb.PersistentClient(path=str(tmp_path / "chroma"), settings=stores.chroma_settings())
    with count_writes(folder, chroma_calls=True) as counted:
        (folder / "a.txt").write_text("x" * 100)
        with open(folder / "a.txt", "a") as appended:
            appended.write("y" * 10)
        os.replace(folder / "a.txt", folder / "b.txt")  # moves no bytes
        shutil.copytree(source, folder / "copy")
        (tmp_path / "outside.txt").write_text("z" * 1000)  # outside the folder: not counted
        collection = notes.create_collection("notes", embedding_function=None)
        collection.add(ids=["a", "b", "c"], embeddings=[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
        collection.update(ids="a", metadatas={"retired": 2})
        collection.delete(where={"retired": 2})  # matches one record
        collection.delete(ids=["b"])
    assert (counted.bytes, counted.records, counted.fired) == (100 + 10 + 50 + 40, 1 + 3 + 1 + 1 + 1, False)
