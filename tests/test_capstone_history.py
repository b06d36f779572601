"""Lesson 11's ``start_index`` (its cells tagged ``recipe``) survives the scripted history, a crash at every write
of every step, an embedding failure mid-sync, damaged folders and changed settings.

After every step a reader's view of the live version (``open_live_index``) must be consistent
(:func:`persistlab.grading.consistency.check_consistent`) and hold exactly the old or the new documents; the meter must
show exactly what the step should cost; a refusal must cost nothing and change no file.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from histories import (
    FIRST_SPLITTER,
    CrashRecipe,
    Recipe,
    chunks,
    commits_at,
    crash_at_every_write,
    documents_from,
    run_history,
    script,
)
from llama_index.core import Settings
from llama_index.core.node_parser import SentenceSplitter
from notebook_recipes import recipes

import persistlab
from persistlab.grading import tree_digest
from persistlab.grading.consistency import check_consistent
from persistlab.grading.crashpoints import InjectedCrash, crash_at_write
from persistlab.simulator import faults

LESSON = Path(__file__).resolve().parents[1] / "lessons" / "11_production_startup.ipynb"
MAX_WRITES = 40  # far more than one start-up makes; the test checks that the last crash point did not fire


pytestmark = pytest.mark.usefixtures("small_vectors")


def restart() -> dict:
    """The lesson's recipes in a fresh namespace: nothing survives from the last "process" but the files."""
    return recipes(LESSON)


def start(folder: Path, documents: list, splitter: object, **options: object) -> None:
    restart()["start_index"](documents, folder, Settings.embed_model, splitter, **options)


def holds(folder: Path, documents: list, splitter: object) -> bool:
    """Whether a reader of ``folder``'s live version finds a consistent index of exactly ``documents``."""
    with persistlab.metered() as loading:
        try:
            index = restart()["open_live_index"](folder, Settings.embed_model, splitter)
        except ValueError:  # SettingsMismatch: the live version was built with another splitter
            return False
    assert loading.requests == 0, f"opening the live version made {loading.requests} embedding requests"
    try:
        check_consistent(index, documents, splitter=splitter)
    except AssertionError:
        return False
    return True


def test_start_index_survives_the_history(tmp_path: Path) -> None:
    """Build, restart, two edits, an addition, a deletion, and a chunking change made on purpose."""
    ns = restart()
    recipe = Recipe(
        "lesson 11 start_index",
        lambda docs, folder, splitter: ns["start_index"](
            docs, folder, Settings.embed_model, splitter, new_settings=True
        ),
        lambda folder, splitter: ns["open_live_index"](folder, Settings.embed_model, splitter),
    )
    assert run_history(recipe, tmp_path).passed[-1] == "change chunking"


def test_a_crash_at_every_write_of_every_step_leaves_the_old_or_the_new_index(tmp_path: Path) -> None:
    recipe = CrashRecipe(
        "start_index",
        lambda docs, folder, splitter: start(folder, docs, splitter, new_settings=True),
        lambda folder, docs, splitter: holds(folder, docs, splitter),
        ordinary=lambda docs, folder, splitter: start(folder, docs, splitter),
    )
    outcomes = crash_at_every_write(recipe, tmp_path, MAX_WRITES)
    changing = [s for s in script()[1:] if s.name != "restart, nothing changed"]
    assert set(outcomes) == {s.name for s in changing}, f"a step that changes something wrote nothing: {outcomes}"
    assert all(len(seen) >= 3 for seen in outcomes.values()), outcomes
    # the commit is the os.replace of CURRENT: crashes up to it leave the old index; after it come only deletions
    commits_at(outcomes, "renaming CURRENT.tmp")
    assert any(state == "new" for seen in outcomes.values() for _, state in seen), "no crash came after a commit"


def test_an_embedding_failure_mid_sync_keeps_the_old_version_and_the_next_start_pays_only_the_changes(
    tmp_path: Path,
) -> None:
    steps = script()
    texts = steps[0].texts
    start(tmp_path, documents_from(texts), FIRST_SPLITTER)
    grown = documents_from({**texts, "a.md": texts["salt.md"] + " Anchovies.", "b.md": texts["sugar.md"] + " Figs."})
    flaky = persistlab.embedding_model(dimensions=64, max_retries=1)
    with faults.inject("server_error", after=2) as outage, persistlab.metered() as failed:
        with pytest.raises(Exception, match="500"):
            restart()["start_index"](grown, tmp_path, flaky, FIRST_SPLITTER)
    assert outage.injected and failed.texts == chunks(grown[:1], FIRST_SPLITTER), (outage.injected, failed.texts)
    assert holds(tmp_path, documents_from(texts), FIRST_SPLITTER), "the failed start changed the live version"
    with persistlab.metered() as redo:
        start(tmp_path, grown, FIRST_SPLITTER)
    assert redo.texts == chunks(grown[:2], FIRST_SPLITTER), redo.texts
    assert holds(tmp_path, grown, FIRST_SPLITTER)


def files(folder: Path) -> dict[str, str]:
    """``tree_digest`` without Chroma's own database, which Chroma writes to whenever a client opens it."""
    return {path: digest for path, digest in tree_digest(folder).items() if "/chroma/" not in f"/{path}"}


def damages(folder: Path) -> dict[str, Path]:
    """Copies of ``folder`` damaged in the ways lesson 11 refuses."""

    def copy(name: str) -> tuple[Path, Path]:
        target = folder.parent / name
        shutil.copytree(folder, target)
        return target, target / "versions" / (target / "CURRENT").read_text().strip()

    out = {}
    target, live = copy("lost-version")
    shutil.rmtree(live)
    out["CURRENT names a missing version"] = target
    target, live = copy("lost-docstore")
    (live / "index" / "docstore.json").unlink()
    out["the live version lost its docstore"] = target
    target, live = copy("cut-manifest")
    (live / "manifest.json").write_text((live / "manifest.json").read_text()[:20])
    out["the manifest is cut in half"] = target
    target, live = copy("cut-docstore")
    (live / "index" / "docstore.json").write_text((live / "index" / "docstore.json").read_text()[:50])
    out["the docstore is cut in half"] = target
    target = folder.parent / "plain"
    restart()["open_live_index"](folder, Settings.embed_model, FIRST_SPLITTER).storage_context.persist(str(target))
    out["files but no CURRENT"] = target
    return out


def test_damaged_folders_and_changed_settings_are_refused_at_no_cost_and_a_change_made_on_purpose_builds_beside(
    tmp_path: Path,
) -> None:
    ns = restart()
    documents = documents_from(script()[0].texts)
    folder = tmp_path / "index"
    start(folder, documents, FIRST_SPLITTER)
    for what, damaged in damages(folder).items():
        before = files(damaged)
        with persistlab.metered() as paid, pytest.raises(RuntimeError) as refused:
            start(damaged, documents, FIRST_SPLITTER)
        assert type(refused.value).__name__ == "DamagedIndex", (what, refused.value)
        assert str(damaged) in str(refused.value) and "move the folder away" in str(refused.value), (
            what,
            refused.value,
        )
        assert paid.requests == 0 and files(damaged) == before, f"{what}: the refusal cost or changed something"

    changes = {
        "another model": (persistlab.embedding_model("text-embedding-3-large", dimensions=64), FIRST_SPLITTER),
        "another dimension": (persistlab.embedding_model(dimensions=128), FIRST_SPLITTER),
        "another chunking": (Settings.embed_model, SentenceSplitter(chunk_size=64, chunk_overlap=10)),
    }
    before = files(folder)
    for what, (model, splitter) in changes.items():
        with persistlab.metered() as paid, pytest.raises(ValueError, match="new_settings=True") as refused:
            restart()["start_index"](documents, folder, model, splitter)
        assert type(refused.value).__name__ == "SettingsMismatch", (what, refused.value)
        assert str(folder) in str(refused.value) and paid.requests == 0, (what, refused.value)
    assert files(folder) == before, "a refused start-up changed the folder"

    model, splitter = changes["another dimension"]
    with crash_at_write(3, folder) as crash, pytest.raises(InjectedCrash):
        restart()["start_index"](documents, folder, model, splitter, new_settings=True)
    assert crash.fired and holds(folder, documents, FIRST_SPLITTER), "a crashed rebuild took the old index away"
    with persistlab.metered() as paid:
        restart()["start_index"](documents, folder, model, splitter, new_settings=True)
    assert paid.texts == chunks(documents, splitter)
    index = restart()["open_live_index"](folder, model, splitter)
    check_consistent(index, documents, splitter=splitter)
    old = sorted((folder / "versions").iterdir())[0]
    assert json.loads((old / "manifest.json").read_text())["dimension"] == 64, "the old version was not kept"
    check_consistent(ns["open_version"](old, Settings.embed_model, FIRST_SPLITTER), documents, splitter=FIRST_SPLITTER)
