"""The persist and update recipes the course teaches that tests/generated.py and the scripted history both drive:
lesson 05's atomic persist, lesson 10's versions behind CURRENT, and the reference solutions of exercises 03, 04 and
05, each as a :class:`histories.Recipe` whose every call takes a fresh namespace of the notebook (a restarted
process). Persist recipes are wrapped in the course's update rule (``histories.refreshed_and_persisted``)."""

from __future__ import annotations

import uuid
from pathlib import Path

import fsspec
from histories import Recipe, refreshed_and_persisted
from llama_index.core import Settings
from llama_index.core.storage.docstore import SimpleDocumentStore
from notebook_recipes import recipes, solution_recipes

ROOT = Path(__file__).resolve().parents[1]
LESSON05 = ROOT / "lessons" / "05_crash_safe_persist.ipynb"
LESSON10 = ROOT / "lessons" / "10_object_storage_and_versions.ipynb"
SOLUTIONS = ROOT / "solutions"


def solution(exercise: str, *grade_ids: str) -> dict:
    """The solution's cells; its setup cell calls persistlab.setup(), so the model set before is set again after."""
    model = Settings.embed_model
    ns = solution_recipes(SOLUTIONS / exercise / f"{exercise}.ipynb", ["setup", *grade_ids])
    Settings.embed_model = model
    return ns


def lesson05_atomic(clean: bool = True) -> Recipe:
    """``clean=False``: a load may find a crashed persist to repair (the start-up check does so)."""

    def started() -> dict:
        return recipes(LESSON05)

    def persist(index, where: Path) -> None:
        ns = started()
        ns["repair_interrupted_swap"](where)
        ns["persist_atomically"](index, where)

    def load(where: Path):
        ns = started()
        repaired = ns["repair_interrupted_swap"](where)
        assert not clean or repaired == [], "a clean persist left something to repair"
        return ns["load"](where)

    return refreshed_and_persisted("lesson 05 persist_atomically", persist, load, Path.exists)


def lesson10_versions(clean: bool = True) -> Recipe:
    """Lesson 10's versions on a local folder. ``clean=False``: a load may find a crashed publish to repair (the
    start-up check does so)."""

    def persist(index, where: Path) -> None:
        ns = recipes(LESSON10)
        ns["publish_version"](index, where)
        ns["retire_old_versions"](where, grace_s=0)  # no readers here

    def load(where: Path):
        ns = recipes(LESSON10)
        repaired = ns["repair_versions"](where)
        assert not clean or repaired == [], "a clean publish left something to repair"
        return ns["open_current"](where)

    return refreshed_and_persisted(
        "lesson 10 publish_version / open_current", persist, load, lambda where: (where / "CURRENT").is_file()
    )


def solution03() -> Recipe:
    def persist(index, where: Path) -> None:
        ns = solution("03_error_recovery", "definitions", "answer_persist_atomically", "answer_repair")
        ns["persist_atomically"](index, where)

    def load(where: Path):
        ns = solution(
            "03_error_recovery", "definitions", "answer_load_or_build", "answer_persist_atomically", "answer_repair"
        )
        index, how = ns["load_or_build"]([], where, Settings.embed_model)
        assert how == "loaded", how
        return index

    return refreshed_and_persisted("solution 03 persist_atomically / load_or_build", persist, load, Path.exists)


def solution05(local: bool = False) -> Recipe:
    """Exercise 05's reference on an in-memory file system, or with ``local`` on the local one through fsspec
    (where crash_at_write reaches its writes)."""
    fs = fsspec.filesystem("file" if local else "memory")
    base = "" if local else f"history-{uuid.uuid4().hex}/"

    def root(where: Path) -> str:
        return str(where) if local else f"{base}{where.name}"

    def persist(index, where: Path) -> None:
        solution("05_object_storage", "answer_publish")["publish_index"](index, fs, root(where))

    def load(where: Path):
        ns = solution("05_object_storage", "answer_load")
        return ns["load_published_index"](fs, root(where), Settings.embed_model)

    return refreshed_and_persisted(
        "solution 05 publish_index / load_published_index",
        persist,
        load,
        lambda where: fs.exists(f"{root(where)}/CURRENT"),
    )


def solution04() -> Recipe:
    """Exercise 04's ``ingest``: its contract fixes the splitter (``make_splitter``), so no chunking change; the
    test gives it the history's splitter. Hashes live in the live version's pipeline docstore."""

    def started(splitter) -> dict:
        ns = solution("04_incremental_ingestion", "definitions", "answer_ingest", "answer_load")
        ns["make_splitter"] = lambda: splitter
        return ns

    def hashes(folder: Path, splitter) -> SimpleDocumentStore:
        live = started(splitter)["current_version"](folder)
        return SimpleDocumentStore.from_persist_path(str(live / "pipeline" / "docstore.json"))

    return Recipe(
        "solution 04 ingest",
        lambda documents, folder, splitter: started(splitter)["ingest"](documents, folder, Settings.embed_model),
        lambda folder, splitter: started(splitter)["load_ingested_index"](folder, Settings.embed_model),
        hashes,
        changes_chunking=False,
    )
