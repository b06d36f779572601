"""Lesson 04's ``diagnose`` notices a folder whose files come from two persists, and nothing in a whole one.

``diagnose`` is taken from the lesson itself (its cells tagged ``recipe``). Two builds of the same documents
give their nodes different random ids; a folder holding any one or two of the three store files from the
other build loads without an error and then fails at query time or finds nothing. Every such combination must
be reported. A generated history of edits (Hypothesis stateful testing) checks the other direction: every
folder the history persists, checked with ``check_consistent``, gets no complaint, and mixing it with a
rebuild of the same documents is always reported. Diagnosing embeds nothing.
"""

from __future__ import annotations

import itertools
import json
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from llama_index.core import Settings, VectorStoreIndex
from notebook_recipes import recipes

import persistlab
from persistlab import grading
from persistlab.grading.consistency import check_consistent

ROOT = Path(__file__).resolve().parents[1]
LESSON = ROOT / "lessons" / "04_diagnosing_load_failures.ipynb"
STORE_FILES = ("docstore.json", "index_store.json", "default__vector_store.json")
MIXES = [combo for k in (1, 2) for combo in itertools.combinations(STORE_FILES, k)]


pytestmark = pytest.mark.usefixtures("tiny_vectors")


@pytest.fixture(scope="module")
def ns():
    return recipes(LESSON)


def mix(base: Path, other: Path, files: tuple[str, ...], into: Path) -> Path:
    """A copy of base with the named files taken from other."""
    shutil.copytree(base, into)
    for name in files:
        shutil.copy(other / name, into / name)
    return into


def test_every_file_of_the_lesson_is_read_through_llama_index(ns):
    assert set(ns["STORE_FILES"]) == set(STORE_FILES)


@pytest.mark.parametrize("same_documents", [True, False], ids=["same documents", "other documents"])
@pytest.mark.parametrize("from_other", MIXES, ids=["+".join(f.split(".")[0] for f in m) for m in MIXES])
def test_files_from_two_persists_are_reported(ns, tmp_path, from_other, same_documents):
    documents = grading.sample_documents(seed=7, n=3)
    others = documents if same_documents else grading.sample_documents(seed=8, n=3)
    for name, docs in (("one", documents), ("two", others)):
        VectorStoreIndex.from_documents(docs).storage_context.persist(persist_dir=tmp_path / name)
    assert ns["diagnose"](tmp_path / "one") == [] and ns["diagnose"](tmp_path / "two") == []

    mixed = mix(tmp_path / "one", tmp_path / "two", from_other, tmp_path / "mixed")
    ns["load"](mixed)  # the danger: it loads without an error
    with persistlab.metered() as meter:
        problems = ns["diagnose"](mixed)
    assert meter.requests == 0
    assert any("different persists" in problem for problem in problems), problems


def test_a_node_whose_document_has_no_record_is_reported(ns, tmp_path):
    documents = grading.sample_documents(seed=9, n=3)
    VectorStoreIndex.from_documents(documents).storage_context.persist(persist_dir=tmp_path / "index")
    docstore_file = tmp_path / "index" / "docstore.json"
    data = json.loads(docstore_file.read_text(encoding="utf-8"))
    del data["docstore/ref_doc_info"][documents[0].id_]
    docstore_file.write_text(json.dumps(data), encoding="utf-8")

    assert len(ns["load"](tmp_path / "index").ref_doc_info) == 2  # the document is silently missing
    problems = ns["diagnose"](tmp_path / "index")
    assert any("no record" in problem for problem in problems), problems


@pytest.mark.parametrize("quoted", ["index initialized but no documents found", "deserialization mismatch"])
def test_the_messages_tutorials_quote_are_not_in_llama_index(quoted):
    """Lesson 04 says so ("Two corrections"): the real messages are the exceptions the lesson prints."""
    import llama_index.core

    core = Path(llama_index.core.__file__).parent
    assert len(list(core.rglob("*.py"))) > 100
    assert [p for p in core.rglob("*.py") if quoted in p.read_text(encoding="utf-8").lower()] == []


class EditHistory(RuleBasedStateMachine):
    """Add, edit and delete documents in one index, persisting after each change, as the course teaches."""

    def __init__(self) -> None:
        super().__init__()
        self.ns = recipes(LESSON)
        self.workdir = Path(tempfile.mkdtemp(prefix="diagnose_history_"))
        self.documents: dict = {}
        self.persists = 0

    @initialize(seed=st.integers(0, 10_000))
    def start(self, seed):
        self.pool = grading.sample_documents(seed=seed, n=6)
        self.documents = {doc.id_: doc for doc in self.pool[:2]}
        self.index = VectorStoreIndex.from_documents(list(self.documents.values()))
        self.revision = 0

    def teardown(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)

    @rule(data=st.data())
    def add(self, data):
        missing = [doc for doc in self.pool if doc.id_ not in self.documents]
        if missing:
            doc = data.draw(st.sampled_from(missing))
            self.index.insert(doc)
            self.documents[doc.id_] = doc

    @rule(data=st.data())
    def edit(self, data):
        if self.documents:
            old = self.documents[data.draw(st.sampled_from(sorted(self.documents)))]
            self.revision += 1
            new = grading.revise(old, seed=self.revision).document
            self.index.delete_ref_doc(old.id_, delete_from_docstore=True)
            self.index.insert(new)
            self.documents[new.id_] = new

    @rule(data=st.data())
    def delete(self, data):
        if self.documents:
            doc_id = data.draw(st.sampled_from(sorted(self.documents)))
            self.index.delete_ref_doc(doc_id, delete_from_docstore=True)
            del self.documents[doc_id]

    @rule()
    def persist_and_diagnose(self):
        self.persists += 1
        folder = self.workdir / f"persist{self.persists}"
        self.index.storage_context.persist(persist_dir=folder)
        with persistlab.metered() as meter:
            problems = self.ns["diagnose"](folder)
        assert meter.requests == 0
        check_consistent(self.ns["load"](folder), list(self.documents.values()), splitter=Settings.node_parser)
        assert problems == [], problems
        if not self.documents:
            return  # no node ids: nothing to mix up
        rebuild = self.workdir / f"rebuild{self.persists}"
        VectorStoreIndex.from_documents(list(self.documents.values())).storage_context.persist(persist_dir=rebuild)
        for number, files in enumerate(MIXES):
            mixed = mix(folder, rebuild, files, self.workdir / f"mixed{self.persists}_{number}")
            problems = self.ns["diagnose"](mixed)
            assert any("different persists" in problem for problem in problems), (files, problems)

    @invariant()
    def model_matches_index(self):
        if self.documents:
            assert set(self.index.ref_doc_info) == set(self.documents)


EditHistory.TestCase.settings = settings(max_examples=8, stateful_step_count=6)  # the rest: conftest.py's profile
test_edit_history = EditHistory.TestCase
