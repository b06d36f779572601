"""Lesson 10's versions behind a pointer: an old version outlives its retirement by GRACE_S, whatever its folder's age.

The recipes are taken from the lesson itself (its cells tagged ``recipe``). Time is passed in (``now=``), never
slept: ``publish_version`` records when the version it replaces stopped being live, and ``retire_old_versions``
deletes a version only ``GRACE_S`` after that, even when the folders' modification times say they are old (a
rename does not change them, so they date from the persist). A generated history (Hypothesis stateful testing)
publishes (each persist and test load taking a drawn time), crashes publishes at each rename, lets readers
resolve the pointer and retires, and
checks after every step that the live version passes ``check_consistent``, that every reader still within
``GRACE_S`` of resolving its version can load it, and that publishing and opening embed nothing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
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
LESSON = ROOT / "lessons" / "10_object_storage_and_versions.ipynb"
T0 = 1_000_000.0  # the fake clock's start


pytestmark = pytest.mark.usefixtures("tiny_vectors")


def age(root: Path, seconds_before: float) -> None:
    """Set every version folder's modification time to seconds_before the fake clock's start."""
    for folder in (root / "versions").iterdir():
        os.utime(folder, (T0 - seconds_before, T0 - seconds_before))


def test_a_folder_cannot_replace_one_that_still_holds_files(tmp_path):
    """Lesson 05's Common gotcha: why persist_atomically renames twice instead of one os.replace (and not shutil.move)."""
    for name in ("index", "index.new"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "docstore.json").write_text("{}")
    with pytest.raises(OSError):
        os.replace(tmp_path / "index.new", tmp_path / "index")
    assert (tmp_path / "index.new" / "docstore.json").is_file()
    shutil.move(tmp_path / "index.new", tmp_path / "index")  # no error: the new folder goes inside the old one
    assert (tmp_path / "index" / "index.new" / "docstore.json").is_file()


def test_renaming_a_folder_keeps_its_mtime(tmp_path):
    """Lesson 10's Common gotcha: a version folder's mtime says when it was persisted, not when it went live."""
    (tmp_path / "v000002").mkdir()
    (tmp_path / "v000002" / "docstore.json").write_text("{}")
    an_hour_ago = time.time() - 3600
    os.utime(tmp_path / "v000002", (an_hour_ago, an_hour_ago))
    (tmp_path / "CURRENT.tmp").write_text("v000002")
    os.replace(tmp_path / "CURRENT.tmp", tmp_path / "CURRENT")  # pointing at it
    os.rename(tmp_path / "v000002", tmp_path / "v000002.renamed")  # and renaming it
    assert (tmp_path / "v000002.renamed").stat().st_mtime == an_hour_ago


def test_a_version_stays_for_grace_after_it_stopped_being_live_even_if_its_folders_are_old(tmp_path):
    ns = recipes(LESSON)
    grace, root = ns["GRACE_S"], tmp_path / "published"
    first, second = (VectorStoreIndex.from_documents(grading.sample_documents(seed=s, n=2)) for s in (1, 2))
    ns["publish_version"](first, root, now=T0)
    switch = T0 + 10 * grace  # v000001 was live a long time
    ns["publish_version"](second, root, now=switch)
    age(root, seconds_before=100 * grace)  # both folders look ancient: as if persisted long before

    assert ns["retire_old_versions"](root, now=switch) == []
    assert ns["retire_old_versions"](root, now=switch + grace - 1) == []
    ns["load_version"](root / "versions" / "v000001")  # a reader that resolved it just before the switch can load it
    assert ns["retire_old_versions"](root, now=switch + grace) == ["v000001"]
    assert sorted(p.name for p in (root / "versions").iterdir()) == ["v000002"]
    assert ns["repair_versions"](root) == []


def test_a_retirement_never_recorded_is_counted_from_when_it_is_first_seen(tmp_path):
    """publish_version dies after the switch, before recording when the old version retired."""
    ns = recipes(LESSON)
    grace, root = ns["GRACE_S"], tmp_path / "published"
    ns["publish_version"](VectorStoreIndex.from_documents(grading.sample_documents(seed=1, n=2)), root, now=T0)
    second = VectorStoreIndex.from_documents(grading.sample_documents(seed=2, n=2))
    real_write_whole = ns["write_whole"]

    def dies_before_moving_the_retirement_time(path, text, fs):
        if "/retired/" not in str(path):
            return real_write_whole(path, text, fs)
        fs.pipe_file(f"{path}.tmp", text.encode())
        raise grading.InjectedFailure("died before the rename of the retirement time")

    ns["write_whole"] = dies_before_moving_the_retirement_time
    error = grading.attempt(ns["publish_version"], second, root, now=T0 + grace)
    assert isinstance(error, grading.InjectedFailure)
    assert Path(ns["resolve_current"](root)).name == "v000002"

    ns = recipes(LESSON)  # a restart
    assert ns["repair_versions"](root) == ["retired/v000001.tmp"]
    first_seen = T0 + 5 * grace
    assert ns["retire_old_versions"](root, now=first_seen) == []
    assert ns["retire_old_versions"](root, now=first_seen + grace - 1) == []
    assert ns["retire_old_versions"](root, now=first_seen + grace) == ["v000001"]


def test_a_reader_whose_vector_file_is_retired_first_loads_the_live_version(tmp_path):
    """Retirement deletes files in no set order: without its vector file a load raises FileNotFoundError."""
    ns = recipes(LESSON)
    root = tmp_path / "published"
    ns["publish_version"](VectorStoreIndex.from_documents(grading.sample_documents(seed=1, n=2)), root)
    newer = grading.sample_documents(seed=2, n=3)
    real_load, opened = ns["load_version"], []

    def load_while_retired(folder, fs=None):
        opened.append(Path(folder).name)
        if opened == ["v000001"]:  # the writer moves on while this reader starts
            ns["publish_version"](VectorStoreIndex.from_documents(newer), root)
            (Path(folder) / "default__vector_store.json").unlink()
        return real_load(folder, fs)

    ns["load_version"] = load_while_retired
    check_consistent(ns["open_current"](root), newer, splitter=Settings.node_parser)
    assert opened == ["v000001", "v000002", "v000002"]  # the second: publish_version's own test load

    ns["load_version"] = real_load  # the live version damaged: no retry, the error stays
    (Path(ns["resolve_current"](root)) / "default__vector_store.json").unlink()
    with pytest.raises(FileNotFoundError, match="default__vector_store"):
        ns["open_current"](root)


class PublishHistory(RuleBasedStateMachine):
    """One writer publishing and retiring on a fake clock; readers resolving the pointer now and then."""

    def __init__(self) -> None:
        super().__init__()
        self.ns = recipes(LESSON)
        self.grace = self.ns["GRACE_S"]
        self.workdir = Path(tempfile.mkdtemp(prefix="versions_history_"))
        self.root = self.workdir / "published"
        self.clock = time.time()  # near the folders' real mtimes
        self.readers: list[tuple[str, float]] = []  # (version resolved, when)
        self.live_documents: list = []
        self.seeds = 0

    def fs(self):
        return self.ns["file_system"](None)

    def teardown(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)

    def next_index(self):
        self.seeds += 1
        documents = grading.sample_documents(seed=self.seeds, n=1 + self.seeds % 3)
        return documents, VectorStoreIndex.from_documents(documents)

    @initialize()
    def first_publish(self):
        documents, index = self.next_index()
        with persistlab.metered() as meter:
            self.ns["publish_version"](index, self.root, now=self.clock)
        assert meter.requests == 0
        self.live_documents = documents

    @rule(seconds=st.sampled_from([0.0, 1.0, 0.5, 1.5]))
    def time_passes(self, seconds):
        self.clock += seconds * self.grace  # in units of GRACE_S: around the boundary

    @rule(took=st.sampled_from([0.0, 0.5, 2.0]))
    def publish(self, took):
        """A reader resolves the live version just before the switch; the new version's persist and test load
        took `took` GRACE_S, so its folder's mtime is that much older than the switch. Then the writer retires."""
        self.a_reader_resolves()
        documents, index = self.next_index()
        with persistlab.metered() as meter:
            name = self.ns["publish_version"](index, self.root, now=self.clock)
        assert meter.requests == 0
        persisted = self.clock - took * self.grace
        os.utime(self.root / "versions" / name, (persisted, persisted))
        self.live_documents = documents
        self.retire()  # as the writer does after each publish

    @rule(nth=st.integers(1, 12))
    def publish_crashes_then_restart(self, nth):
        """The writer dies at its nth write, rename or delete (a clean publish makes about ten); then a restart."""
        documents, index = self.next_index()
        with grading.crash_at_write(nth, under=self.root) as crash:
            error = grading.attempt(self.ns["publish_version"], index, self.root, now=self.clock)
        assert isinstance(error, grading.InjectedCrash) if crash.fired else error is None, error
        if Path(self.ns["resolve_current"](self.root)).name == self.ns["version_names"](self.root, self.fs())[-1]:
            self.live_documents = documents  # CURRENT was switched before it died (or it did not die)
        self.ns = recipes(LESSON)
        self.ns["repair_versions"](self.root)
        assert self.ns["repair_versions"](self.root) == []

    @rule()
    def a_reader_resolves(self):
        self.readers.append((Path(self.ns["resolve_current"](self.root)).name, self.clock))

    @rule()
    def retire(self):
        live = Path(self.ns["resolve_current"](self.root)).name
        deleted = self.ns["retire_old_versions"](self.root, now=self.clock)
        assert live not in deleted

    @invariant()
    def readers_within_grace_can_load(self):
        self.readers = [(name, when) for name, when in self.readers if self.clock - when < self.grace]
        for name, _ in self.readers:  # GRACE_S's assumption: a load takes less than that
            self.ns["load_version"](self.root / "versions" / name)

    @invariant()
    def live_version_is_whole(self):
        with persistlab.metered() as meter:
            index = self.ns["open_current"](self.root)
        assert meter.requests == 0
        check_consistent(index, self.live_documents, splitter=Settings.node_parser)


PublishHistory.TestCase.settings = settings(max_examples=10, stateful_step_count=10)  # the rest: conftest.py's profile
test_publish_history = PublishHistory.TestCase
