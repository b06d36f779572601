"""The persist and update recipes not covered elsewhere, driven through the whole scripted history of
``histories.py`` (build, restart, two edits, an addition, a deletion, a chunking change): lesson 05's atomic
persist, lesson 10's versions behind CURRENT, and the reference solutions of exercises 03, 04 and 05 (01 and 02,
which only build and reload, through those two steps).

The lessons' recipes come from their cells tagged ``recipe``, the solutions' from their nbgrader answer
cells, each in a fresh namespace per step (a restarted process). A persist recipe only stores an index, so the
test wraps it in the course's update rule (``histories.refreshed_and_persisted``). After every step the index
must be consistent, hashes included, answer the step's new sentence, and the step must have embedded exactly
its changed chunks. Vectors have 64 numbers (the API's ``dimensions=``) to keep the JSON stores small.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from histories import run_history
from llama_index.core import Settings, VectorStoreIndex
from taught_recipes import lesson05_atomic, lesson10_versions, solution, solution03, solution04, solution05

import persistlab
from persistlab.grading.consistency import check_consistent

WHOLE = [
    "build",
    "restart, nothing changed",
    "edit salt.md (1)",
    "edit salt.md (2)",
    "add honey.md",
    "delete smoke.md",
    "change chunking",
]


pytestmark = pytest.mark.usefixtures("small_vectors")


@pytest.mark.parametrize("make", [lesson05_atomic, lesson10_versions, solution03, solution05])
def test_persist_recipe_survives_the_whole_history(make, tmp_path: Path) -> None:
    assert run_history(make(), tmp_path).passed == WHOLE


def test_solution04_ingest_survives_the_history(tmp_path: Path) -> None:
    assert run_history(solution04(), tmp_path).passed == WHOLE[:-1]


def test_solutions_01_and_02_build_once_and_restart_consistent_for_free(tmp_path: Path) -> None:
    """Exercises 01 and 02 only build and reload (their contracts have no updates): build, then two restarts,
    each in a fresh namespace, consistent and paying nothing but exercise 02's probe texts."""
    from histories import chunks, documents_from, script

    documents = documents_from(script()[0].texts)
    model = Settings.embed_model
    with persistlab.metered() as built:
        solution("01_persist_and_reload", "answer_build_and_persist")["build_and_persist"](
            documents, tmp_path / "01", model
        )
    assert built.texts == chunks(documents, Settings.node_parser)
    ns = solution(
        "02_embedding_mismatch",
        "definitions",
        "answer_write_manifest",
        "answer_check",
        "answer_load_checked",
        "answer_versioned",
    )
    folder = ns["versioned_persist_dir"](tmp_path / "02", model, 1)
    VectorStoreIndex.from_documents(documents, embed_model=model).storage_context.persist(persist_dir=str(folder))
    ns["write_embedding_manifest"](folder, model)
    probes = len(ns["PROBE_TEXTS"])
    for _ in range(2):
        with persistlab.metered() as restart:
            first = solution("01_persist_and_reload", "answer_load_persisted_index")["load_persisted_index"](
                tmp_path / "01", model
            )
        assert restart.requests == 0
        check_consistent(first, documents, splitter=Settings.node_parser)
        with persistlab.metered() as restart:
            ns = solution(
                "02_embedding_mismatch", "definitions", "answer_check", "answer_load_checked", "answer_versioned"
            )
            second = ns["load_checked_index"](ns["versioned_persist_dir"](tmp_path / "02", model, 1), model)
        assert restart.texts == probes  # the fingerprint check embeds its probe texts, nothing else
        check_consistent(second, documents, splitter=Settings.node_parser)
