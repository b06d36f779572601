"""Lesson 11's ``start_index`` (its cells tagged ``recipe``): one Chroma collection updated in place, each chunk
tagged with the version that added it and the version that retired it, ``CURRENT`` naming the live version.

- a crash before every write of an edit (files inside the folder, and each of Chroma's public write calls) leaves
  the old or the new version live, whole, and the next start pays for the change at most once, or nothing if the
  change was undone meanwhile;
- a reader that opens the index at any moment of an edit sees exactly one version, and one opened before the edit
  keeps seeing its version after it;
- an edit's writes follow the change, not the corpus;
- damaged folders and changed settings are refused at no cost; a change made on purpose builds beside the live
  collection, which stays for a rollback.

The generated histories (test_generated_histories.py) drive the same recipe through every rule.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from chromadb.api.models.Collection import Collection
from llama_index.core import Document, Settings
from llama_index.core.node_parser import SentenceSplitter
from notebook_recipes import recipes

import persistlab
from persistlab.grading import tree_digest
from persistlab.grading.consistency import check_consistent
from persistlab.grading.crashpoints import InjectedCrash, crash_at_write

LESSON = Path(__file__).resolve().parents[1] / "lessons" / "11_production_startup.ipynb"
SPLITTER = SentenceSplitter(chunk_size=64, chunk_overlap=0)
TEXTS = {f"doc{i}.md": f"Jar {i} on shelf {i % 3} holds salt, brine and sugar, sealed in week {i}." for i in range(6)}
CHANGED = {
    **{k: v for k, v in TEXTS.items() if k != "doc2.md"},
    "doc1.md": TEXTS["doc1.md"] + " Edited.",
    "x.md": "New.",
}
MAX_WRITES = 40

pytestmark = pytest.mark.usefixtures("small_vectors")


def documents(texts: dict[str, str]) -> list[Document]:
    return [Document(id_=doc_id, text=text) for doc_id, text in sorted(texts.items())]


def start(folder: Path, texts: dict[str, str], model: Any = None, **options: Any) -> None:
    """One start in a "new process": the recipe from a fresh namespace; only the folder carries state."""
    recipes(LESSON)["start_index"](documents(texts), folder, model or Settings.embed_model, SPLITTER, **options)


def holds(folder: Path, texts: dict[str, str], model: Any = None) -> bool:
    with persistlab.metered() as loading:
        index, filters = recipes(LESSON)["open_live_index"](folder, model or Settings.embed_model, SPLITTER)
    assert loading.requests == 0, f"opening the live version made {loading.requests} embedding requests"
    try:
        check_consistent(index, documents(texts), splitter=SPLITTER, hashes=None, filters=filters)
    except AssertionError:
        return False
    return True


def chunks(texts: dict[str, str], since: dict[str, str]) -> int:
    changed = [Document(id_=k, text=v) for k, v in texts.items() if since.get(k) != v]
    return len(SPLITTER.get_nodes_from_documents(changed))


def test_a_crash_before_every_write_of_an_edit_leaves_the_old_or_the_new_version(tmp_path: Path) -> None:
    base = tmp_path / "base"
    start(base, TEXTS)
    seen = []
    for nth in range(1, MAX_WRITES):
        folder = tmp_path / f"crash-{nth}"
        shutil.copytree(base, folder)
        with crash_at_write(nth, folder, chroma_calls=True) as crash:
            try:
                start(folder, CHANGED)
            except InjectedCrash:
                pass
        if not crash.fired:
            break
        state = "old" if holds(folder, TEXTS) else "new"
        assert state == "old" or holds(folder, CHANGED), f"{crash.where}: the reader sees neither version"
        if state == "old":  # the change is undone before the next start: it must find the old version, for free
            shutil.copytree(folder, tmp_path / f"undone-{nth}")
            with persistlab.metered() as undone:
                start(tmp_path / f"undone-{nth}", TEXTS)
            assert undone.texts == 0 and holds(tmp_path / f"undone-{nth}", TEXTS), f"{crash.where}: undoing it broke it"
            start(tmp_path / f"undone-{nth}", {**TEXTS, "y.md": "Another jar."})  # the next version must hold them all
            assert holds(tmp_path / f"undone-{nth}", {**TEXTS, "y.md": "Another jar."}), f"{crash.where}: lost chunks"
        with persistlab.metered() as next_start:
            start(folder, CHANGED)
        assert holds(folder, CHANGED), f"{crash.where}: the next start did not finish the change"
        assert next_start.texts == (chunks(CHANGED, TEXTS) if state == "old" else 0), (crash.where, next_start.texts)
        seen.append((crash.writes[nth - 1], state))
    assert not crash.fired, f"more than {MAX_WRITES} writes"
    writes = [where for where, _ in seen]
    assert {"Chroma add", "Chroma update", "Chroma delete", "renaming CURRENT.tmp"} <= set(writes), writes
    commit = writes.index("renaming CURRENT.tmp")
    assert [state for _, state in seen] == ["old"] * (commit + 1) + ["new"] * (len(seen) - commit - 1), seen


@pytest.fixture
def before_each_chroma_write(monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[[str], None]], None]:
    """Call ``look(name)`` before each of Chroma's public write calls."""

    def install(look: Callable[[str], None]) -> None:
        for name in ("add", "update", "upsert", "delete"):
            original = getattr(Collection, name)

            def call(self: Any, *args: Any, _name: str = name, _original: Any = original, **kwargs: Any) -> Any:
                look(_name)
                return _original(self, *args, **kwargs)

            monkeypatch.setattr(Collection, name, call)

    return install


def test_a_reader_during_an_edit_sees_exactly_one_version(tmp_path: Path, before_each_chroma_write: Any) -> None:
    start(tmp_path, TEXTS)
    early, filters = recipes(LESSON)["open_live_index"](tmp_path, Settings.embed_model, SPLITTER)
    versions: list[str] = []

    def look(name: str) -> None:
        versions.append("old" if holds(tmp_path, TEXTS) else "new" if holds(tmp_path, CHANGED) else f"a mix ({name})")

    before_each_chroma_write(look)
    start(tmp_path, CHANGED)
    assert set(versions) <= {"old", "new"}, versions
    assert versions[0] == "old" and versions[-1] == "new" and len(versions) >= 4, versions  # the purge comes last
    assert holds(tmp_path, CHANGED)
    check_consistent(early, documents(TEXTS), splitter=SPLITTER, hashes=None, filters=filters)
    hits = early.as_retriever(similarity_top_k=10, filters=filters).retrieve("Jar 2 holds salt")
    assert {hit.node.ref_doc_id for hit in hits} == set(TEXTS), "a reader opened before the edit saw it"


@pytest.mark.parametrize("size", [20, 200])
def test_an_edit_writes_the_changed_chunks_only(tmp_path: Path, size: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ids each of Chroma's write calls names (add, update; a delete by filter names none) follow the change."""
    texts = {f"doc{i}.md": f"Record {i}: jar {i % 7} on shelf {i % 5}, week {i}." for i in range(size)}
    start(tmp_path, texts)
    written: list[int] = []
    for name in ("add", "update"):
        counted = getattr(Collection, name)

        def call(self: Any, *args: Any, _counted: Any = counted, **kwargs: Any) -> Any:
            written.append(len(kwargs.get("ids") or args[0]))
            return _counted(self, *args, **kwargs)

        monkeypatch.setattr(Collection, name, call)
    with persistlab.metered() as paid:
        start(tmp_path, {**texts, "doc3.md": texts["doc3.md"] + " Edited."})
    assert paid.texts == 1 and written == [1, 1], (paid.texts, written)


def files(folder: Path) -> dict[str, str]:
    """``tree_digest`` without Chroma's database, which Chroma writes to whenever a client opens it."""
    return {path: digest for path, digest in tree_digest(folder).items() if "/chroma/" not in f"/{path}"}


def damages(folder: Path) -> Iterator[tuple[str, Path]]:
    def copy(name: str) -> Path:
        shutil.copytree(folder, folder.parent / name)
        return folder.parent / name

    target = copy("lost-collection")
    (target / "CURRENT").write_text(json.dumps({"collection": "c000009", "version": 1}))
    yield "CURRENT names a missing collection", target
    target = copy("cut-pointer")
    (target / "CURRENT").write_text((target / "CURRENT").read_text()[:10])
    yield "CURRENT is cut in half", target
    target = copy("lost-chroma")
    shutil.rmtree(target / "chroma")
    yield "the Chroma database is gone", target
    target = folder.parent / "plain"
    target.mkdir()
    (target / "docstore.json").write_text("{}")
    yield "files but no CURRENT", target


def test_damaged_folders_and_changed_settings_are_refused_at_no_cost_and_a_change_made_on_purpose_builds_beside(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "index"
    start(folder, TEXTS)
    for what, damaged in damages(folder):
        before = files(damaged)
        with persistlab.metered() as paid, pytest.raises(RuntimeError) as refused:
            start(damaged, TEXTS)
        assert type(refused.value).__name__ == "DamagedIndex", (what, refused.value)
        assert "move the folder away" in str(refused.value), (what, refused.value)
        assert paid.requests == 0 and files(damaged) == before, f"{what}: the refusal cost or changed something"
        assert not (damaged / "chroma").exists() or what != "the Chroma database is gone", "it made a new database"

    bigger = persistlab.embedding_model(dimensions=128)
    before = files(folder)
    with persistlab.metered() as paid, pytest.raises(ValueError, match="new_settings=True") as refused:
        start(folder, TEXTS, bigger)
    assert type(refused.value).__name__ == "SettingsMismatch" and paid.requests == 0, refused.value
    assert files(folder) == before, "a refused start-up changed the folder"
    with crash_at_write(3, folder, chroma_calls=True) as crash, pytest.raises(InjectedCrash):
        start(folder, TEXTS, bigger, new_settings=True)
    assert crash.fired and holds(folder, TEXTS), "a crashed rebuild took the old index away"
    with persistlab.metered() as paid:
        start(folder, TEXTS, bigger, new_settings=True)
    assert paid.texts == chunks(TEXTS, {}) and holds(folder, TEXTS, bigger)
    (folder / "CURRENT").write_text(json.dumps({"collection": "c000001", "version": 1}))  # a rollback
    assert holds(folder, TEXTS), "the collection of the old settings was not kept"
