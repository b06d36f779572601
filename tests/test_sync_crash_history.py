"""Lesson 07's ``sync_folder`` survives a crash at every write it makes, at every step of the scripted history.

The recipe comes from the lesson itself (its cells tagged ``recipe``). For each step of ``histories.script()``
(edits, an addition, a deletion, a chunking change), the step's sync runs once per write it makes, on a copy of
the folder as the previous step left it, with that write crashed (``persistlab.grading.crashpoints.crash_at_write``:
the write is left half done and raises). Then a "restarted process" (a fresh namespace of the lesson's recipes)
must find a consistent index of exactly the old documents or exactly the new ones, loading with zero embedding
requests; its next sync must end with the new documents, embedding only what the crashed sync had not
committed (nothing if the crash came after the commit), and a sync after that must embed nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from histories import CrashRecipe, commits_at, crash_at_every_write, documents_from, script
from llama_index.core.storage.docstore import SimpleDocumentStore
from notebook_recipes import recipes

import persistlab
from persistlab.grading.consistency import check_consistent
from persistlab.grading.crashpoints import crash_at_write

LESSON = Path(__file__).resolve().parents[1] / "lessons" / "07_sync_with_a_folder.ipynb"
MAX_WRITES = 40  # far more than one sync makes; the test checks that the last crash point did not fire


pytestmark = pytest.mark.usefixtures("small_vectors")


def restart() -> dict:
    """The lesson's recipes in a fresh namespace: nothing survives from the last "process" but the files."""
    return recipes(LESSON)


def hashes(ns: dict, folder: Path, splitter: object) -> SimpleDocumentStore | None:
    """The pipeline docstore of ``folder``'s live version (where the next sync looks for hashes); None before one."""
    live = ns["current_version"](ns["settings_folder"](folder, splitter))
    return None if live is None else SimpleDocumentStore.from_persist_path(str(live / "pipeline" / "docstore.json"))


def holds(ns: dict, folder: Path, documents: list, splitter: object) -> bool:
    """Whether the index sync_folder keeps in ``folder`` is consistent and holds exactly ``documents``."""
    with persistlab.metered() as loading:
        index = ns["open_synced_index"](folder, splitter)
    assert loading.requests == 0, f"opening the index made {loading.requests} embedding requests"
    if not documents:
        check_consistent(index)
        return not index.index_struct.nodes_dict
    stored = hashes(ns, folder, splitter)
    if stored is None:
        return False
    try:
        check_consistent(index, documents, splitter=splitter, hashes=stored)
    except AssertionError:
        return False
    return True


def test_a_crash_at_every_write_of_every_step_leaves_the_old_or_the_new_index(tmp_path: Path) -> None:
    recipe = CrashRecipe(
        "sync_folder",
        lambda docs, folder, splitter: restart()["sync_folder"](docs, folder, splitter),
        lambda folder, docs, splitter: holds(restart(), folder, docs, splitter),
        # a new splitter syncs into a folder of its own: before its first commit, that folder's index is empty
        before=lambda previous, step: (
            documents_from(previous.texts) if previous.splitter is step.splitter else [],
            step.splitter,
        ),
    )
    outcomes = crash_at_every_write(recipe, tmp_path, MAX_WRITES)
    crashes = sum(len(seen) for seen in outcomes.values())
    assert crashes >= 2 * (len(script()) - 2), f"only {crashes} crash points fired: the test did not crash the writes"
    # the commit is the os.replace of CURRENT: crashes up to it leave the old index; after it come only deletions
    commits_at(outcomes, "renaming CURRENT.tmp")
    assert any(state == "new" for seen in outcomes.values() for _, state in seen), "no crash came after a commit"


def test_the_crash_points_fire_on_sync_folders_writes(tmp_path: Path) -> None:
    """The harness is not blind: the first sync of a folder makes several store writes, a plain write of the
    pointer's temporary file and a rename inside it."""
    steps = script()
    with crash_at_write(10**6, tmp_path) as crash:
        restart()["sync_folder"](documents_from(steps[0].texts), tmp_path / "sync", steps[0].splitter)
    assert not crash.fired and any(w.startswith("writing docstore.json") for w in crash.writes), crash.writes
    assert "writing CURRENT.tmp" in crash.writes and "renaming CURRENT.tmp" in crash.writes, crash.writes
