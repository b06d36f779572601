"""Lessons 05 and 10's persist recipes survive a crash at every write, rename and delete they make.

Both recipes are taken from the lessons themselves (their cells tagged ``recipe``):

- lesson 05: ``persist_atomically(index, folder)`` + start-up ``repair_interrupted_swap(folder)``, read with
  ``load(folder)``;
- lesson 10: ``publish_version(index, root)`` then ``retire_old_versions(root)`` + start-up ``repair_versions(root)``,
  read with ``open_current(root)``. Its crashes come from ``crash_at_write``, whose process stays dead after the
  crash: fsspec's local ``mv`` is ``shutil.move``, which answers a failed rename with a copy.

A scripted history walks through document sets (add, edit, delete). At every step the next persist is
crashed at one point (each store file half written, each rename, a delete half done), the process
"restarts" (a fresh namespace of the lesson's recipes, the start-up check, a load from disk), and the
folder must load a complete, consistent index of exactly the old documents or exactly the new ones,
with zero embedding requests. The restart then persists the new documents again, cleanly.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from llama_index.core import Settings, VectorStoreIndex
from notebook_recipes import recipes

import persistlab
from persistlab import grading
from persistlab.grading.consistency import check_consistent

ROOT = Path(__file__).resolve().parents[1]
LESSONS = {
    "atomic": ROOT / "lessons" / "05_crash_safe_persist.ipynb",
    "pointer": ROOT / "lessons" / "10_object_storage_and_versions.ipynb",
}
STORE_FILES = (
    "docstore.json",
    "index_store.json",
    "graph_store.json",
    "default__vector_store.json",
    "image__vector_store.json",
)
MAX_RENAMES = 6  # more than persist_atomically makes; the test checks that the last one tried did not fire
MAX_OPS = 12  # a clean publish_version and retire_old_versions make 11 writes, renames and deletes


class Recipe:
    """One persist recipe of the lesson, used as a fresh process would use it."""

    def __init__(self, name: str, workdir: Path):
        self.name, self.workdir = name, workdir
        self.target = workdir / ("index" if name == "atomic" else "published")

    def restart(self) -> dict:
        ns = recipes(LESSONS[self.name])  # nothing survives from the last "process" but the files
        (ns["repair_interrupted_swap"] if self.name == "atomic" else ns["repair_versions"])(self.target)
        return ns

    def persist(self, ns: dict, index: VectorStoreIndex) -> None:
        if self.name == "atomic":
            ns["persist_atomically"](index, self.target)
        else:
            ns["publish_version"](index, self.target)
            ns["retire_old_versions"](self.target, grace_s=0)  # no readers here: old versions go at once

    def load(self, ns: dict) -> VectorStoreIndex:
        return ns["load"](self.target) if self.name == "atomic" else ns["open_current"](self.target)


def contents(index: VectorStoreIndex) -> dict[str, str]:
    """{document id: text} of a loaded index, after checking that its three stores agree."""
    listed = set(index.index_struct.nodes_dict.values())
    vectors = set(index.vector_store.to_dict()["embedding_dict"])
    nodes = index.docstore.docs
    assert listed == vectors == set(nodes), "the index, its vectors and its docstore list different nodes"
    index.ref_doc_info  # noqa: B018 raises if a node's document is missing
    return {node.ref_doc_id: node.get_content() for node in nodes.values()}


def history() -> list[list]:
    """Document sets, one per step: start, add one, edit one, delete one, edit again."""
    a, b, c, d = grading.sample_documents(seed=4, n=4)
    b2 = grading.revise(b, seed=1).document
    b3 = grading.revise(b2, seed=2).document
    return [[a, b], [a, b, c], [a, b2, c], [b2, c], [b2, c, d], [b3, c, d]]


def crash_points(name: str, target: Path) -> list:
    if name == "pointer":
        return [
            (f"at operation {n}", lambda n=n: grading.crash_at_write(n, under=target.parent))
            for n in range(1, MAX_OPS + 1)
        ]
    points = [(f"while writing {name}", lambda name=name: grading.crash_while_writing(name)) for name in STORE_FILES]
    points += [
        (f"at rename {n}", lambda n=n: grading.crash_on_rename(n, under=target.parent))
        for n in range(1, MAX_RENAMES + 1)
    ]
    points.append(("while deleting the old snapshot", lambda: grading.crash_on_delete(under=target.parent)))
    return points


pytestmark = pytest.mark.usefixtures("tiny_vectors")


def expected(documents) -> dict[str, str]:
    return {doc.id_: doc.text for doc in documents}


@pytest.mark.parametrize("name", ["atomic", "pointer"])
def test_a_crash_at_every_step_leaves_the_old_or_the_new_index(name, tmp_path):
    recipe = Recipe(name, tmp_path)
    steps = history()
    ns = recipe.restart()
    recipe.persist(ns, VectorStoreIndex.from_documents(steps[0]))
    old, old_documents = expected(steps[0]), steps[0]
    fired, outcomes = set(), []
    for number, point in enumerate(crash_points(name, recipe.target)):
        documents = steps[1 + number % (len(steps) - 1)]
        new = expected(documents)
        if new == old:
            documents = steps[0]
            new = expected(documents)
        where, make_crash = point
        index = VectorStoreIndex.from_documents(documents)  # built before the crash: it may embed
        with make_crash() as crash:
            error = grading.attempt(recipe.persist, ns, index)
        if crash.fired:
            fired.add(where)
            assert isinstance(error, grading.InjectedFailure | grading.InjectedCrash), (
                f"{where}: the failure did not reach the caller: {error!r}"
            )
        else:
            assert error is None, f"{name} failed by itself ({where} never fired): {error!r}"
        with persistlab.metered() as restart:
            ns = recipe.restart()
            loaded = recipe.load(ns)
            found = contents(loaded)
        assert restart.requests == 0, f"restart after a crash {where} embedded {restart.texts} texts"
        assert found in (old, new), f"after a crash {where} the folder holds {sorted(found)}: neither old nor new"
        check_consistent(loaded, documents if found == new else old_documents, splitter=Settings.node_parser)
        outcomes.append((where, crash.fired, "new" if found == new else "old"))
        if found != new:  # the restarted process redoes the update
            recipe.persist(ns, index)
            assert contents(recipe.load(ns)) == new
        old, old_documents = new, documents
        repaired = recipe.restart()  # a second start-up finds nothing to repair
        assert (repaired["repair_interrupted_swap"] if name == "atomic" else repaired["repair_versions"])(
            recipe.target
        ) == []

    if name == "pointer":
        # five store files, the pointer and a retirement time each written and renamed, two deletes
        assert {f"at operation {n}" for n in range(1, 12)} <= fired, outcomes
    else:
        renames = [where for where, did_fire, _ in outcomes if where.startswith("at rename") and did_fire]
        assert len(renames) >= 2, outcomes  # it renames twice
        assert f"at rename {MAX_RENAMES}" not in fired, "raise MAX_RENAMES: the recipe renames more often"
        assert {f"while writing {name}" for name in STORE_FILES} <= fired, outcomes
        assert "while deleting the old snapshot" in fired, outcomes
    # a crash before the switch keeps the old index; after it, the new one
    assert any(state == "old" for _, did_fire, state in outcomes if did_fire), outcomes
    assert any(state == "new" for _, did_fire, state in outcomes if did_fire), outcomes
