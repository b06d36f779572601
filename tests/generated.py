"""Histories nobody wrote by hand: a Hypothesis state machine drives an update recipe through generated changes.

The model is the folder's documents (id -> text). Rules change it (add, edit, delete, restore a deleted
document, copy another document's text under a new id, an empty document, rename, a document of many chunks,
unicode), restart (a run with nothing changed), crash the update at its k-th write
(:func:`persistlab.grading.crashpoints.crash_at_write`), fail the embedding service from its k-th request
(:mod:`persistlab.simulator.faults`), or change the chunking or the model. Every run is a restarted process:
the recipe comes from a fresh namespace and only the folder carries state. After every step:

- the index, reloaded with zero embedding requests, passes :func:`check_consistent` against the model's documents
  (so its source documents are the model's), with the recipe's hashes;
- retrieval for the sentence the step wrote finds it, in a document that holds it;
- the meter shows exactly the chunks of the documents that changed; after a crash or a failed run, the next run
  pays for the unfinished change at most once (nothing if the crashed run had committed);
- for a recipe that claims it (``Subject.writes_follow_change``), what the update wrote follows the change, not the
  corpus (:func:`check_writes_follow_change`).

A :class:`Subject` wraps one recipe; :func:`run` drives it with the active Hypothesis profile (``conftest.py``).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
from histories import Recipe
from hypothesis import settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from llama_index.core import Document, Settings
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import MetadataMode

import persistlab
from persistlab.grading import digest_outside_chroma
from persistlab.grading.consistency import check_consistent
from persistlab.grading.crashpoints import InjectedCrash, WriteCrash, count_writes, crash_at_write
from persistlab.grading.documents import chunk_texts, count_chunks
from persistlab.simulator import faults

SPLITTERS = (SentenceSplitter(chunk_size=64, chunk_overlap=0), SentenceSplitter(chunk_size=128, chunk_overlap=0))
DIMENSIONS = (64, 96)
SETTINGS = ((0, 0), (1, 0), (0, 1))
"""(splitter, vector length) pairs a history may switch between; the first is where it starts."""

WORDS = ("salt", "brine", "smoke", "sugar", "vinegar", "honey", "cellar", "crock", "barrel", "jar", "lid", "winter")
UNICODE = ("Smørrebrød på rugbrød", "Gravlax, färsk dill", "寿司の酢飯", "Ёлочные соленья", "Crème fraîche — ½ kg 🍯")
BASE = "Stores kept in the cellar through the winter need dry shelves, clean jars and a written list."
LONG = " ".join(f"Shelf {n} holds jars sealed in week {n}, checked for mould and leaks each Sunday." for n in range(14))

EVERYDAY = frozenset(
    {"add", "edit", "delete", "restore", "rename", "many_chunks", "unicode", "restart", "edit_and_crash_at_write"}
    | {"add_two_with_an_outage_from_request_k", "change_settings"}
)
"""Every rule but the two that make documents alike (each has its own tests): ``copy`` and ``empty``."""
IDENTICAL_TEXTS = frozenset({"add", "edit", "delete", "restore", "rename", "restart", "copy"})
"""The rules that change which documents share a text, without the crashes and settings changes."""
EMPTY_DOCUMENTS = frozenset({"add", "edit", "delete", "restart", "empty"})

FIXED_BYTES, BYTES_PER_CHUNK = 256, 0
FIXED_RECORDS, RECORDS_PER_CHUNK = 2, 2
"""What an update may write (:func:`check_writes_follow_change`), from the CI histories of lesson 11's ``start_index``
(49 steps, measured with :func:`count_writes`): its only plain write is the 39-byte pointer, so 256 bytes leave room for
a pointer or a small manifest, and nothing a chunk, since a Chroma recipe writes its chunks through Chroma (a
per-chunk allowance of bytes would let a JSON file that grows with the corpus pass in histories of a few
documents: lesson 08's ``docstore.json``, 93 bytes a document, rewritten by every sync). Its Chroma records were at
most 1.8 per chunk changed (22 for 12), and 2 per chunk
covers it (a chunk is added, retired and purged once); the fixed 2 records are a collection created and one deleted
(a change of settings). A restart with nothing changed wrote 0 bytes and 0 records in all 23 restarts measured."""

STATS = {"histories": 0, "steps": 0}
"""What ran in this process (the long profile prints it)."""


@dataclass
class Subject:
    """One update recipe as the machine drives it (every call on a fresh namespace of the recipe)."""

    name: str
    update: Callable[..., None]
    """``update(documents, folder, splitter, embed_model, new_settings)``: bring the folder up to date."""
    load: Callable[[Path, Any, Any], Any]
    """``load(folder, splitter, embed_model)``: the index a restarted reader opens, or ``(index, filters)`` for a
    reader that sees one version of a store through metadata filters."""
    hashes: Callable[[Path, Any, Any], Any]
    """Where the recipe keeps document hashes (``check_consistent``'s ``hashes=``)."""
    settings_change: str
    """``"beside"``: a new chunking or model gets an index of its own, kept up to date beside the others;
    ``"refuse"``: refused at no cost, then rebuilt with the recipe's switch (``new_settings=True``);
    ``"in_place"``: the one index is re-chunked, re-embedding only the documents whose chunks change;
    ``"none"``: the recipe's contract fixes the settings."""
    settings: tuple[int, ...] = tuple(range(len(SETTINGS)))
    """The entries of :data:`SETTINGS` the recipe claims to handle (the first is where a history starts)."""
    rules: frozenset[str] = frozenset()
    """The rules a history may use (default :data:`EVERYDAY`)."""
    file_names: bool | None = None
    """Whether documents carry ``metadata={"file_name": id}`` (which is in their hash); None: each history draws it."""
    chroma_calls: bool = False
    """Whether Chroma's own write calls are crash points too (``crash_at_write(..., chroma_calls=True)``): for a
    recipe that updates a Chroma collection in place."""
    writes_follow_change: bool = False
    """Whether each update's writes inside the folder must follow the change (:func:`check_writes_follow_change`):
    for a recipe that says its cost follows the change, not the corpus."""
    atomic: bool = True
    """False: a failed update may leave part of the change (a vector database writes at once), which the next run
    completes; readers are checked after that run, which pays at most the unfinished change."""

    def __post_init__(self) -> None:
        self.rules = self.rules or EVERYDAY


class Histories(RuleBasedStateMachine):
    subject: Subject
    folder_root: Path
    serial = itertools.count()

    def __init__(self) -> None:
        super().__init__()
        STATS["histories"] += 1
        self.folder = self.folder_root / f"history-{next(self.serial)}"
        self.texts: dict[str, str] = {}
        self.deleted: dict[str, str] = {}
        self.setting = 0
        self.held: dict[int, dict[str, str]] = {}  # what each setting's index holds, as the model expects
        self.probe: str | None = None
        self.writes = 0  # how many writes the last update made: a crash picks one of about as many
        self.changed = 0  # the chunks the last update added and retired
        self.file_names = False
        self.ids = itertools.count(1)
        self.models = {dim: persistlab.embedding_model(dimensions=dim) for dim in DIMENSIONS}

    # --- the model -----------------------------------------------------------------------------------------------

    @property
    def splitter(self) -> Any:
        return SPLITTERS[SETTINGS[self.setting][0]]

    @property
    def model(self) -> Any:
        return self.models[DIMENSIONS[SETTINGS[self.setting][1]]]

    def documents(self, texts: dict[str, str] | None = None) -> list[Document]:
        texts = self.texts if texts is None else texts
        return [
            Document(id_=doc_id, text=text, metadata={"file_name": doc_id} if self.file_names else {})
            for doc_id, text in sorted(texts.items())
        ]

    def chunks(self, texts: dict[str, str], since: dict[str, str]) -> int:
        """Chunks of the documents in ``texts`` that are new or changed since ``since``."""
        changed = {doc_id: text for doc_id, text in texts.items() if since.get(doc_id) != text}
        return count_chunks(self.documents(changed), self.splitter)  # an empty text's chunk is never embedded

    def sentence(self, words: tuple[str, str]) -> str:
        n = next(self.ids)
        self.probe = (
            f"Tally q{n}z{n}: {words[0]}, {words[1]}, q{n}z{n} again."  # rare tokens: a chunk holding it stands out
        )
        return self.probe

    def new_id(self) -> str:
        return f"doc{next(self.ids)}.md"

    def pick(self, pool: dict[str, str], i: int) -> str:
        return sorted(pool)[i % len(pool)]

    # --- running the recipe --------------------------------------------------------------------------------------

    def where(self) -> str:
        return f"{self.subject.name}, setting {SETTINGS[self.setting]}, documents {sorted(self.texts)}"

    def run(
        self, expected: int | None = None, model: Any = None, new_settings: bool = False, most: bool = False
    ) -> int:
        """One update with the current documents; checks it paid ``expected`` texts (default: the changes), or at
        ``most`` that many."""
        held = self.held.get(self.setting, {})
        if expected is None:
            expected = self.chunks(self.texts, held)
        # Chroma's calls are measured for the writes invariant, and crash points only with chroma_calls
        chroma = self.subject.chroma_calls or self.subject.writes_follow_change
        with persistlab.metered() as usage, count_writes(self.folder, chroma) as counting:
            self.subject.update(self.documents(), self.folder, self.splitter, model or self.model, new_settings)
        self.writes = sum(self.subject.chroma_calls or not w.startswith("Chroma ") for w in counting.writes)
        assert usage.texts <= expected if most else usage.texts == expected, (
            f"{self.where()}: the update embedded {usage.texts} texts, expected {'at most ' * most}{expected}"
        )
        changed = self.chunks(self.texts, held) + self.chunks(held, self.texts)
        if self.subject.writes_follow_change:
            check_writes_follow_change(counting, changed + self.changed, self.where())
        self.changed = changed
        self.held[self.setting] = dict(self.texts)
        return usage.texts

    def reader(self) -> tuple[Any, Any]:
        """The index a restarted reader opens, and the metadata filters it queries with (None: the whole store)."""
        with persistlab.metered() as loading:
            opened = self.subject.load(self.folder, self.splitter, self.model)
        assert loading.requests == 0, f"{self.where()}: loading made {loading.requests} embedding requests"
        return opened if isinstance(opened, tuple) else (opened, None)

    def holds(self, texts: dict[str, str]) -> bool:
        index, filters = self.reader()
        try:
            check_consistent(
                index,
                self.documents(texts),
                splitter=self.splitter,
                hashes=self.subject.hashes(self.folder, self.splitter, self.model),
                filters=filters,
            )
        except AssertionError:
            return False
        return True

    def interrupted(self, before: dict[str, str], attempt: Callable[[], Any], expected_error: type) -> None:
        """``attempt`` ran an update that may have failed; a restart must find the old or the new documents (a recipe
        that is not atomic: an index that opens, its stores agreeing), and the next run must pay for what the failed
        one left undone, once."""
        try:
            attempt()
        except expected_error:
            pass
        if not self.subject.atomic:
            index, filters = self.reader()  # a torn file would raise here
            try:
                check_consistent(index, filters=filters)
            except AssertionError as error:
                raise AssertionError(f"{self.where()}: a reader after the failure: {error}") from error
            self.held[self.setting] = before
            self.run(self.chunks(self.texts, before), most=True)
            return
        if self.holds(self.texts):
            pending = 0
        else:
            assert self.holds(before), f"{self.where()}: after the failure the folder holds neither old nor new"
            pending = self.chunks(self.texts, before)
        self.held[self.setting] = before
        self.run(pending)

    # --- rules -----------------------------------------------------------------------------------------------

    @initialize(words=st.tuples(st.sampled_from(WORDS), st.sampled_from(WORDS)), file_names=st.booleans())
    def build(self, words: tuple[str, str], file_names: bool) -> None:
        self.file_names = file_names if self.subject.file_names is None else self.subject.file_names
        self.texts = {self.new_id(): f"{BASE} {self.sentence(words)}", self.new_id(): f"{LONG[:200]} {words[1]}."}
        self.run()

    @precondition(lambda self: "add" in self.subject.rules)
    @rule(words=st.tuples(st.sampled_from(WORDS), st.sampled_from(WORDS)))
    def add(self, words: tuple[str, str]) -> None:
        self.texts[self.new_id()] = f"{BASE} {self.sentence(words)}"
        self.run()

    @precondition(lambda self: "edit" in self.subject.rules and bool(self.texts))
    @rule(i=st.integers(0, 50), words=st.tuples(st.sampled_from(WORDS), st.sampled_from(WORDS)))
    def edit(self, i: int, words: tuple[str, str]) -> None:
        doc_id = self.pick(self.texts, i)
        self.texts[doc_id] = f"{self.texts[doc_id]} {self.sentence(words)}".strip()
        self.run()

    @precondition(lambda self: "delete" in self.subject.rules and len(self.texts) > 1)
    @rule(i=st.integers(0, 50))
    def delete(self, i: int) -> None:
        doc_id = self.pick(self.texts, i)
        self.deleted[doc_id] = self.texts.pop(doc_id)
        self.probe = None
        self.run()

    @precondition(lambda self: "restore" in self.subject.rules and bool(self.deleted))
    @rule(i=st.integers(0, 50))
    def restore(self, i: int) -> None:
        doc_id = self.pick(self.deleted, i)
        self.texts[doc_id] = self.deleted.pop(doc_id)
        self.probe = None
        self.run()

    @precondition(lambda self: "copy" in self.subject.rules and bool(self.texts))
    @rule(i=st.integers(0, 50))
    def copy(self, i: int) -> None:
        self.texts[self.new_id()] = self.texts[self.pick(self.texts, i)]
        self.probe = None
        self.run()

    @precondition(lambda self: "empty" in self.subject.rules)
    @rule()
    def empty(self) -> None:
        self.texts[self.new_id()] = ""
        self.probe = None
        self.run()

    @precondition(lambda self: "rename" in self.subject.rules and bool(self.texts))
    @rule(i=st.integers(0, 50))
    def rename(self, i: int) -> None:
        doc_id = self.pick(self.texts, i)
        self.texts[self.new_id()] = self.texts.pop(doc_id)
        self.probe = None
        self.run()

    @precondition(lambda self: "many_chunks" in self.subject.rules)
    @rule(words=st.tuples(st.sampled_from(WORDS), st.sampled_from(WORDS)))
    def many_chunks(self, words: tuple[str, str]) -> None:
        self.texts[self.new_id()] = f"{LONG} {self.sentence(words)}"
        self.run()

    @precondition(lambda self: "unicode" in self.subject.rules)
    @rule(prefix=st.sampled_from(UNICODE), words=st.tuples(st.sampled_from(WORDS), st.sampled_from(WORDS)))
    def unicode(self, prefix: str, words: tuple[str, str]) -> None:
        self.texts[self.new_id()] = f"{prefix}. {self.sentence(words)}"
        self.run()

    @precondition(lambda self: "restart" in self.subject.rules)
    @rule()
    def restart(self) -> None:
        self.probe = None
        self.run(0)

    @precondition(lambda self: "edit_and_crash_at_write" in self.subject.rules and bool(self.texts))
    @rule(i=st.integers(0, 50), k=st.integers(0, 50), words=st.tuples(st.sampled_from(WORDS), st.sampled_from(WORDS)))
    def edit_and_crash_at_write(self, i: int, k: int, words: tuple[str, str]) -> None:
        """Crash at write ``1 + k % (n + 1)``, ``n`` the writes of the last update (so about one in n + 1 misses)."""
        k = 1 + k % (self.writes + 1)
        before, doc_id = dict(self.texts), self.pick(self.texts, i)
        self.texts[doc_id] = f"{self.texts[doc_id]} {self.sentence(words)}".strip()

        def attempt() -> None:
            with crash_at_write(k, self.folder, self.subject.chroma_calls) as crash:
                try:
                    self.subject.update(self.documents(), self.folder, self.splitter, self.model, False)
                except InjectedCrash:
                    assert crash.fired
                    return
            assert not crash.fired, f"{self.where()}: the crash {crash.where} did not reach the caller"

        self.interrupted(before, attempt, InjectedCrash)

    @precondition(lambda self: "add_two_with_an_outage_from_request_k" in self.subject.rules and bool(self.texts))
    @rule(k=st.integers(1, 3), words=st.tuples(st.sampled_from(WORDS), st.sampled_from(WORDS)))
    def add_two_with_an_outage_from_request_k(self, k: int, words: tuple[str, str]) -> None:
        before = dict(self.texts)
        self.texts[self.new_id()] = f"{BASE} {self.sentence(words)}"
        self.texts[self.new_id()] = f"{LONG[:300]} {self.sentence(words)}"
        # one request per chunk, so that k picks the chunk the outage starts at
        flaky = persistlab.embedding_model(
            dimensions=DIMENSIONS[SETTINGS[self.setting][1]], max_retries=1, embed_batch_size=1
        )

        def attempt() -> None:
            with faults.inject("server_error", after=k):
                self.subject.update(self.documents(), self.folder, self.splitter, flaky, False)

        self.interrupted(before, attempt, Exception)

    @precondition(lambda self: "change_settings" in self.subject.rules and self.subject.settings_change != "none")
    @rule(j=st.integers(0, len(SETTINGS) - 2))
    def change_settings(self, j: int) -> None:
        others = [setting for setting in self.subject.settings if setting != self.setting]
        self.setting, old = others[j % len(others)], self.setting
        self.probe = None
        if self.subject.settings_change == "beside":
            self.run()
            return
        if self.subject.settings_change == "in_place":
            was, now = SPLITTERS[SETTINGS[old][0]], self.splitter
            alike = [d for d in self.documents(self.held[old]) if chunk_texts(d, was) == chunk_texts(d, now)]
            self.held[self.setting] = {d.id_: d.text for d in alike}  # what the index holds as the new chunking
            self.run()
            return
        before = digest_outside_chroma(self.folder)
        with persistlab.metered() as usage:
            try:
                self.subject.update(self.documents(), self.folder, self.splitter, self.model, False)
            except ValueError as refused:
                assert "new_settings=True" in str(refused), f"{self.where()}: refused without the way out: {refused}"
            else:
                raise AssertionError(f"{self.where()}: a change from setting {SETTINGS[old]} was not refused")
        assert usage.requests == 0 and digest_outside_chroma(self.folder) == before, (
            f"{self.where()}: the refusal cost {usage.texts} texts or changed a file"
        )
        self.held.pop(self.setting, None)  # built anew beside the old one
        self.run(new_settings=True)

    # --- after every step ------------------------------------------------------------------------------------

    @invariant()
    def consistent_and_answers(self) -> None:
        if not self.held:
            return  # before the first build
        STATS["steps"] += 1
        index, filters = self.reader()
        try:
            check_consistent(
                index,
                self.documents(),
                splitter=self.splitter,
                hashes=self.subject.hashes(self.folder, self.splitter, self.model),
                filters=filters,
            )
        except AssertionError as error:
            raise AssertionError(f"{self.where()}: {error}") from error
        if self.probe:
            # Asked with the whole text of the chunk holding the probe, as embedded: a sentence alone may rank below
            # other documents' chunks (64-number vectors; it is a few words of a long chunk), which says nothing of
            # the recipe, while this finds the chunk only if its vector is that of its current text.
            holder = self.documents({d: t for d, t in self.texts.items() if self.probe in t})[0]
            chunk = next(n for n in self.splitter.get_nodes_from_documents([holder]) if self.probe in n.get_content())
            hits = index.as_retriever(similarity_top_k=5, filters=filters).retrieve(
                chunk.get_content(metadata_mode=MetadataMode.EMBED)
            )
            found = [hit.node.ref_doc_id for hit in hits if self.probe in hit.node.get_content()]
            assert found, f"{self.where()}: retrieval for {self.probe!r} found {[h.node.ref_doc_id for h in hits]}"
            assert all(self.probe in self.texts.get(doc_id or "", "") for doc_id in found), (
                f"{self.where()}: retrieval cites {found} for {self.probe!r}, which they do not hold"
            )


def check_writes_follow_change(written: WriteCrash, changed: int, where: str) -> None:
    """An update whose cost follows the change writes at most a fixed allowance plus one per chunk it adds or
    retires, in this step or the one before (a recipe may purge the chunks the previous version retired, or complete
    a failed run's change): ``changed`` counts both. A restart with nothing changed pays the fixed allowance at most.

    ``written`` is what :func:`count_writes` saw inside the history's folder: the bytes of plain file writes and
    copies, and the records named by Chroma's write calls. It cannot see the bytes Chroma's native code writes
    (SQLite pages, HNSW files): a Chroma record is counted as one, whatever it costs on disk, and a collection created
    or deleted as one, whatever it holds; nor writes outside the folder. Constants: :data:`FIXED_BYTES`."""
    most_bytes, most_records = FIXED_BYTES + BYTES_PER_CHUNK * changed, FIXED_RECORDS + RECORDS_PER_CHUNK * changed
    assert written.bytes <= most_bytes and written.records <= most_records, (
        f"{where}: the update wrote {written.bytes} bytes and {written.records} Chroma records for {changed} chunks "
        f"changed (this step and the one before); writes that follow the change are at most {most_bytes} bytes and "
        f"{most_records} records ({written.writes[:6]}{' ...' * (len(written.writes) > 6)})"
    )


def run(subject: Subject, folder: Path) -> None:
    """Drive ``subject`` through the active profile's generated histories, in folders under ``folder``."""
    machine = type(f"Histories_{subject.name}", (Histories,), {"subject": subject, "folder_root": folder})
    run_state_machine_as_test(machine, settings=settings())


@contextlib.contextmanager
def global_model(model: Any) -> Iterator[None]:
    before = Settings.embed_model
    Settings.embed_model = model
    try:
        yield
    finally:
        Settings.embed_model = before


def taught(make: Callable[[], Recipe]) -> Callable[..., Subject]:
    """A persist recipe of test_taught_recipes_history or test_recipes (wrapped in the course's update rule), which
    embeds with ``Settings.embed_model`` and keeps each chunking in a folder of its own (it claims no model change).
    Each history (folder) gets its own recipe: some keep their state on an in-memory file system."""

    def subject(**options: Any) -> Subject:
        made: dict[Path, Recipe] = {}

        def recipe(folder: Path) -> Recipe:
            return made.setdefault(folder, make())

        def update(docs: list, folder: Path, splitter: Any, model: Any, new: bool) -> None:
            with global_model(model):
                recipe(folder).update(docs, folder, splitter)

        def load(folder: Path, splitter: Any, model: Any) -> Any:
            with global_model(model):
                return recipe(folder).load(folder, splitter)

        return Subject(
            make().name,
            update,
            load,
            lambda folder, splitter, model: recipe(folder).hashes(folder, splitter),
            "beside",
            settings=(0, 1),
            **options,
        )

    return subject
