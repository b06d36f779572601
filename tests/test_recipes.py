"""Every update recipe a lesson teaches, loaded from the lesson itself, survives the scripted history of
``histories.py``; the pattern lesson 05 used to teach (a pipeline sharing the index's stores) fails it."""

from __future__ import annotations

from pathlib import Path

import pytest
from llama_index.core.storage.docstore import SimpleDocumentStore

import persistlab
from histories import SHARED_STORES, Recipe, run_history
from notebook_recipes import recipes

LESSONS = Path(__file__).resolve().parents[1] / "lessons"


@pytest.fixture(scope="module", autouse=True)
def simulator() -> None:
    persistlab.setup(quiet=True)


def lesson05() -> Recipe:
    ns = recipes(LESSONS / "05_pipeline_reuse.ipynb")

    def hashes(folder: Path, splitter: object) -> SimpleDocumentStore:
        path = ns["settings_folder"](folder, splitter) / "pipeline" / "docstore.json"
        return SimpleDocumentStore.from_persist_path(str(path))

    return Recipe("lesson 05 sync_folder", lambda docs, folder, splitter: ns["sync_folder"](docs, folder, splitter),
                  ns["open_index"], hashes)


def test_lesson05_sync_folder_survives_the_history(tmp_path: Path) -> None:
    passed = run_history(lesson05(), tmp_path).passed
    assert passed[-1] == "change chunking", passed


def test_the_shared_stores_pattern_fails_the_history(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match=r"step 'build': the index lists 8 node ids but its docstore holds 12 entries"):
        run_history(SHARED_STORES, tmp_path)
