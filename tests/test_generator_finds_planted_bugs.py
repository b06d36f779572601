"""The generator finds what issue 22 found by hand: each planted recipe below is a proven one (lesson 05's, 10's or
11's, run in tests/test_generated_histories.py) with one of those bugs put back, and the CI profile's histories must fail it, for
that bug's reason. If a change to the generator (tests/generated.py) stopped finding one, this module fails.

- Found item 1: deleted documents found from ``docstore.get_all_document_hashes()``, which maps hash -> one doc id,
  so two documents with one text collapse into one entry (a deleted copy stays in the index, answering).
- Found item 5: the pointer file written in place (``fs.pipe_file``) instead of to a temporary name and then moved
  over it (``write_whole``): a crash in that write leaves a cut pointer, and the crash harness must reach plain
  writes (fsspec's local file system writes with ``open``).
- Found item 7: the cost of a change follows the corpus: a "safety" copy of the whole Chroma folder before each
  start of lesson 11's recipe, caught by the check that a step's writes follow the change.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from generated import Subject, run, taught
from helpers import REPO
from histories import Recipe, global_splitter
from llama_index.core import Document, VectorStoreIndex
from notebook_recipes import recipes

LESSON05 = REPO / "lessons" / "05_crash_safe_persist.ipynb"
LESSON10 = REPO / "lessons" / "10_object_storage_and_versions.ipynb"

pytestmark = pytest.mark.usefixtures("small_vectors")


def lists_documents_by_hash() -> Recipe:
    """Lesson 05's ``persist_atomically`` under the course's update rule, except that it finds deleted documents
    from the docstore's hash map instead of ``ref_doc_info``."""

    def where(folder: Path, splitter: Any) -> Path:
        return folder / f"chunks-{splitter.chunk_size}"

    def update(documents: list[Document], folder: Path, splitter: Any) -> None:
        ns = recipes(LESSON05)
        with global_splitter(splitter):
            if not where(folder, splitter).exists():
                ns["persist_atomically"](VectorStoreIndex.from_documents(documents), where(folder, splitter))
                return
            index = ns["load"](where(folder, splitter))
            listed = set(index.docstore.get_all_document_hashes().values())  # the planted bug
            gone = listed - {d.id_ for d in documents}
            for doc_id in sorted(gone):
                index.delete_ref_doc(doc_id, delete_from_docstore=True)
            if any(index.refresh_ref_docs(documents)) or gone:
                ns["persist_atomically"](index, where(folder, splitter))

    def load(folder: Path, splitter: Any) -> VectorStoreIndex:
        with global_splitter(splitter):
            return recipes(LESSON05)["load"](where(folder, splitter))

    return Recipe("lesson 05, documents listed by hash", update, load)


def pointer_written_in_place() -> Recipe:
    """Lesson 10's ``publish_version`` / ``open_current``, except that every small file it means to write whole (the
    pointer, the retirement times) is written in place."""

    def planted(ns: dict[str, Any]) -> dict[str, Any]:
        def write_in_place(path: Any, text: str, fs: Any) -> None:
            fs.pipe_file(path, text.encode())  # the planted bug

        ns["write_whole"] = write_in_place
        return ns

    def where(folder: Path, splitter: Any) -> Path:
        return folder / f"chunks-{splitter.chunk_size}"

    def update(documents: list[Document], folder: Path, splitter: Any) -> None:
        ns = planted(recipes(LESSON10))
        root = where(folder, splitter)
        with global_splitter(splitter):
            if not (root / "CURRENT").is_file():
                ns["publish_version"](VectorStoreIndex.from_documents(documents), root)
                return
            ns["repair_versions"](root)
            index = ns["open_current"](root)
            gone = set(index.ref_doc_info) - {d.id_ for d in documents}
            for doc_id in sorted(gone):
                index.delete_ref_doc(doc_id, delete_from_docstore=True)
            if any(index.refresh_ref_docs(documents)) or gone:
                ns["publish_version"](index, root)

    def load(folder: Path, splitter: Any) -> VectorStoreIndex:
        ns = planted(recipes(LESSON10))
        with global_splitter(splitter):
            ns["repair_versions"](where(folder, splitter))
            return ns["open_current"](where(folder, splitter))

    return Recipe("lesson 10, pointer written in place", update, load)


def test_the_generator_finds_documents_listed_by_hash(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="no longer exist"):
        run(taught(lists_documents_by_hash)(rules=frozenset({"copy", "delete", "edit"}), file_names=False), tmp_path)


def test_the_generator_finds_a_pointer_written_in_place(tmp_path: Path) -> None:
    rules = frozenset({"add", "edit", "delete", "restart", "edit_and_crash_at_write"})
    with pytest.raises(FileNotFoundError, match="versions"):
        run(taught(pointer_written_in_place)(rules=rules), tmp_path)


LESSON11 = REPO / "lessons" / "11_production_startup.ipynb"


def copies_the_live_index_first() -> Subject:
    """Lesson 11's ``start_index`` (proven in tests/test_generated_histories.py), except that each start first makes
    a "safety" copy of the whole Chroma folder with ``shutil.copytree``: found item 7, a change whose cost follows the
    corpus (every start writes the whole index again), though it embeds exactly what changed."""

    def update(documents: list[Document], folder: Path, splitter: Any, model: Any, new: bool) -> None:
        if (folder / "CURRENT").is_file():  # the planted bug
            shutil.copytree(folder / "chroma", folder / "chroma-before", dirs_exist_ok=True)
        recipes(LESSON11)["start_index"](documents, folder, model, splitter, new_settings=new)

    return Subject(
        "lesson 11, live index copied before each start",
        update,
        lambda folder, splitter, model: recipes(LESSON11)["open_live_index"](folder, model, splitter),
        lambda *_: None,  # no docstore: hashes are in the chunks' ids
        "refuse",
        rules=frozenset({"add", "edit", "restart"}),
        chroma_calls=True,
        writes_follow_change=True,
    )


def test_the_generator_finds_writes_that_follow_the_corpus(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match=r"the update wrote \d+ bytes .*'copying folder chroma'"):
        run(copies_the_live_index_first(), tmp_path)
