"""A scripted history that every update recipe the course teaches must survive.

A *recipe* is wrapped as a :class:`Recipe`: ``update(documents, folder, splitter)`` brings the persisted
index in ``folder`` up to date with the complete current set of documents (building it on the first
call), and ``load(folder, splitter)`` reopens it as a restarted program would. Every step runs on new
objects (only the folder carries state), then the test checks, after each step:

- the reloaded index is consistent (:func:`persistlab.grading.consistency.check_consistent`);
- retrieval for the step's new sentence finds the edited document;
- the meter shows exactly the texts that step should embed (the chunks of the documents it changed).

``run_history(recipe, folder)`` returns the steps it passed; the first failing check raises
``AssertionError`` naming the step. :func:`crash_at_every_write` runs each step again once per write it
makes, crashing that write, and checks what a restart finds and what the next run pays.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llama_index.core import Document, Settings, StorageContext, VectorStoreIndex, load_index_from_storage
from llama_index.core.ingestion import IngestionPipeline
from llama_index.core.node_parser import SentenceSplitter

import persistlab
from persistlab.grading.consistency import INDEX_DOCSTORE, check_consistent
from persistlab.grading.crashpoints import InjectedCrash, crash_at_write

FIRST_SPLITTER = SentenceSplitter(chunk_size=64, chunk_overlap=0)
SECOND_SPLITTER = SentenceSplitter(chunk_size=128, chunk_overlap=0)

TOPICS = {
    "salt.md": "Dry salting draws water out of fish and meat so that bacteria cannot grow",
    "smoke.md": "Cold smoking at low temperature dries the surface and adds compounds that slow spoiling",
    "sugar.md": "Jam keeps because so much sugar binds the water that microbes are starved of it",
    "vinegar.md": "Pickling in vinegar makes food too acidic for the bacteria that cause botulism",
}


def _text(topic: str, extra: str = "") -> str:
    body = " ".join(f"{topic}, as cellar note {n} records for the winter stores." for n in range(1, 5))
    return f"{body} {extra}".strip()


def documents_from(texts: dict[str, str]) -> list[Document]:
    return [Document(id_=doc_id, text=text, metadata={"file_name": doc_id}) for doc_id, text in sorted(texts.items())]


@dataclass
class Recipe:
    """One taught way to keep a persisted index up to date."""

    name: str
    update: Callable[[list[Document], Path, Any], None]
    load: Callable[[Path, Any], VectorStoreIndex]
    hashes: Callable[[Path, Any], Any] = lambda folder, splitter: INDEX_DOCSTORE
    """Where the recipe keeps document hashes (see check_consistent's ``hashes=``)."""
    changes_chunking: bool = True
    """False for recipes that do not claim to handle a new splitter; the history then stops before it."""


@dataclass
class Step:
    name: str
    texts: dict[str, str]
    splitter: Any
    changed: set[str]
    """Documents whose chunks this step must embed (all of them for a build or a chunking change)."""
    probe: str | None = None
    """A sentence new in this step, which retrieval must answer with ``probe_doc``."""
    probe_doc: str | None = None


def script() -> list[Step]:
    """build, restart, edit one document twice, add one, delete one, change chunking (a restart before each)."""
    texts = {doc_id: _text(topic) for doc_id, topic in TOPICS.items()}
    steps = [
        Step("build", dict(texts), FIRST_SPLITTER, set(texts)),
        Step("restart, nothing changed", dict(texts), FIRST_SPLITTER, set()),
    ]
    for n, sentence in enumerate(
        [
            "Anchovies were layered with coarse salt in barrels for months.",
            "Salted cod from Newfoundland was traded across the Atlantic.",
        ],
        start=1,
    ):
        texts["salt.md"] = _text(TOPICS["salt.md"], sentence)
        steps.append(Step(f"edit salt.md ({n})", dict(texts), FIRST_SPLITTER, {"salt.md"}, sentence, "salt.md"))
    added = "Fermented honey garlic keeps for a year at room temperature."
    texts["honey.md"] = _text("Honey is so dry and acidic that almost nothing can live in it", added)
    steps.append(Step("add honey.md", dict(texts), FIRST_SPLITTER, {"honey.md"}, added, "honey.md"))
    del texts["smoke.md"]
    steps.append(Step("delete smoke.md", dict(texts), FIRST_SPLITTER, set()))
    steps.append(Step("change chunking", dict(texts), SECOND_SPLITTER, set(texts)))
    return steps


def chunks(documents: list[Document], splitter: Any) -> int:
    return sum(len(splitter.get_nodes_from_documents([d])) for d in documents)


@dataclass
class History:
    passed: list[str] = field(default_factory=list)


def shared_stores_update(documents: list[Document], folder: Path, splitter: Any) -> None:
    """The pattern lesson 07 warns against (its Common gotcha), kept to prove the history catches it: the pipeline writes into the index's
    own docstore and vector store, and the index takes what ``run()`` returns."""
    if (folder / "docstore.json").is_file():
        index = load_index_from_storage(
            StorageContext.from_defaults(persist_dir=str(folder)), embed_model=Settings.embed_model
        )
    else:
        index = VectorStoreIndex([], embed_model=Settings.embed_model)
    stores = index.storage_context
    pipeline = IngestionPipeline(
        transformations=[splitter, Settings.embed_model], docstore=stores.docstore, vector_store=stores.vector_store
    )
    index.insert_nodes(pipeline.run(documents=documents))
    stores.persist(persist_dir=str(folder))


SHARED_STORES = Recipe(
    "shared stores (lesson 07's gotcha)",
    shared_stores_update,
    lambda folder, splitter: load_index_from_storage(
        StorageContext.from_defaults(persist_dir=str(folder)), embed_model=Settings.embed_model
    ),
    changes_chunking=False,
)


@contextlib.contextmanager
def global_splitter(splitter: Any) -> Iterator[None]:
    """``Settings.node_parser`` (and ``transformations``, which caches ``[node_parser]`` once read) set to ``splitter``
    inside the block: for recipes that chunk with the global settings, as ``from_documents`` does by default."""
    before = Settings.node_parser, Settings.transformations
    Settings.node_parser, Settings.transformations = splitter, [splitter]
    try:
        yield
    finally:
        Settings.node_parser, Settings.transformations = before


def refreshed_and_persisted(
    name: str,
    persist: Callable[[VectorStoreIndex, Path], None],
    load: Callable[[Path], VectorStoreIndex],
    exists: Callable[[Path], bool],
) -> Recipe:
    """A persist recipe (``persist(index, where)``, ``load(where)``) with the course's update rule around it.

    Build with ``from_documents`` if nothing was persisted; else load, delete the documents no longer listed
    (nodes and hashes: ``delete_ref_doc(..., delete_from_docstore=True)``), ``refresh_ref_docs`` the rest, and
    persist if anything changed. A new chunking is a new index in its own place (lesson 03: raise the version),
    ``where = folder / f"chunks-{chunk_size}"``.
    """

    def where(folder: Path, splitter: Any) -> Path:
        return folder / f"chunks-{splitter.chunk_size}"

    def update(documents: list[Document], folder: Path, splitter: Any) -> None:
        with global_splitter(splitter):
            if not exists(where(folder, splitter)):
                persist(VectorStoreIndex.from_documents(documents), where(folder, splitter))
                return
            index = load(where(folder, splitter))
            gone = set(index.ref_doc_info) - {d.id_ for d in documents}
            for doc_id in sorted(gone):
                index.delete_ref_doc(doc_id, delete_from_docstore=True)
            if any(index.refresh_ref_docs(documents)) or gone:
                persist(index, where(folder, splitter))

    def reopen(folder: Path, splitter: Any) -> VectorStoreIndex:
        with global_splitter(splitter):
            return load(where(folder, splitter))

    return Recipe(name, update, reopen)


def run_history(recipe: Recipe, folder: Path, history: History | None = None) -> History:
    """Drive ``recipe`` through :func:`script`, checking after every step; raise on the first failure."""
    history = history or History()
    for step in script():
        if step.name == "change chunking" and not recipe.changes_chunking:
            break
        documents = documents_from(step.texts)
        expected = chunks([d for d in documents if d.id_ in step.changed], step.splitter)
        with persistlab.metered() as usage:
            recipe.update(documents, folder, step.splitter)
        where = f"{recipe.name}, step {step.name!r}"
        assert usage.texts == expected, f"{where}: embedded {usage.texts} texts, expected {expected}"
        with persistlab.metered() as loading:
            index = recipe.load(folder, step.splitter)
        assert loading.requests == 0, f"{where}: loading made {loading.requests} embedding requests"
        try:
            check_consistent(index, documents, splitter=step.splitter, hashes=recipe.hashes(folder, step.splitter))
        except AssertionError as error:
            raise AssertionError(f"{where}: {error}") from error
        if step.probe:
            hit = index.as_retriever(similarity_top_k=1).retrieve(step.probe)[0]
            assert hit.node.ref_doc_id == step.probe_doc and step.probe in hit.node.get_content(), (
                f"{where}: asked about {step.probe!r}, retrieval answered with {hit.node.ref_doc_id}"
            )
        history.passed.append(step.name)
    return history


@dataclass
class CrashRecipe:
    """A recipe as :func:`crash_at_every_write` drives it: each call runs on fresh code, only the folder persists."""

    name: str
    """What one run is called in messages ("sync_folder")."""
    run: Callable[[list[Document], Path, Any], None]
    holds: Callable[[Path, list[Document], Any], bool]
    """Whether a reader of the folder finds a consistent index of exactly these documents, with this splitter."""
    before: Callable[[Step, Step], tuple[list[Document], Any]] = lambda previous, step: (
        documents_from(previous.texts),
        previous.splitter,
    )
    """What a crash may leave a reader instead of the new documents: the previous step's index."""
    ordinary: Callable[[list[Document], Path, Any], None] | None = None
    """An ordinary day's run after the repair, which must pay nothing (default: ``run``)."""


def crash_at_every_write(recipe: CrashRecipe, tmp_path: Path, max_writes: int = 40) -> dict[str, list[tuple[str, str]]]:
    """Run every step of :func:`script` on a copy of the folder the previous step left, once per write it makes,
    with that write crashed; ``{step: [(the write crashed, "old" or "new"), ...]}``, what a restart found.

    After each crash the failure must reach the caller, a reader must find the old or the new index, the next run
    must pay exactly what is left (nothing if the crashed run had committed, else the changed chunks), and a third
    run nothing. ``max_writes`` is far more than one run makes: a step that still crashes there fails.
    """
    steps = script()
    base = tmp_path / "base"
    recipe.run(documents_from(steps[0].texts), base, steps[0].splitter)
    outcomes: dict[str, list[tuple[str, str]]] = {}
    for previous, step in zip(steps, steps[1:]):
        new = documents_from(step.texts)
        paid = chunks([d for d in new if d.id_ in step.changed], step.splitter)
        for nth in range(1, max_writes + 1):
            folder = tmp_path / f"{step.name}-{nth}".replace(" ", "_")
            shutil.copytree(base, folder)
            with crash_at_write(nth, folder) as crash:
                try:
                    recipe.run(new, folder, step.splitter)
                    error = None
                except Exception as caught:  # noqa: BLE001 (the test judges what reached it)
                    error = caught
            where = f"step {step.name!r}, crash {crash.where}"
            if not crash.fired:
                assert error is None, f"{where}: {recipe.name} failed by itself: {error!r}"
                assert recipe.holds(folder, new, step.splitter), f"{where}: a {recipe.name} without a crash is wrong"
                break
            assert isinstance(error, InjectedCrash), f"{where}: the failure did not reach the caller: {error!r}"
            committed = recipe.holds(folder, new, step.splitter)
            assert committed or recipe.holds(folder, *recipe.before(previous, step)), (
                f"{where}: after a restart the folder holds neither the old documents nor the new ones"
            )
            with persistlab.metered() as redo:
                recipe.run(new, folder, step.splitter)
            outcomes.setdefault(step.name, []).append((crash.writes[-1], "new" if committed else "old"))
            expected = 0 if committed else paid
            assert redo.texts == expected, (
                f"{where}: the next {recipe.name} embedded {redo.texts} texts, expected {expected} "
                f"({'the crashed run had committed' if committed else 'only the changed chunks'})"
            )
            assert recipe.holds(folder, new, step.splitter), f"{where}: the next {recipe.name} left a wrong index"
            with persistlab.metered() as again:
                (recipe.ordinary or recipe.run)(new, folder, step.splitter)
            assert again.requests == 0, f"{where}: a third {recipe.name} still embedded {again.texts} texts"
            shutil.rmtree(folder)
        else:
            raise AssertionError(f"step {step.name!r}: {recipe.name} made more than {max_writes} writes")
        recipe.run(new, base, step.splitter)
    for name, seen in outcomes.items():
        print(f"{name}: {len(seen)} crashes, {sum(state == 'old' for _, state in seen)} left the old index")
    return outcomes


def commits_at(outcomes: dict[str, list[tuple[str, str]]], commit: str) -> None:
    """Check that in every step each crash up to and including the write ``commit`` left the old index, and each
    one after it the new index (what follows the commit may only clean up)."""
    for step, seen in outcomes.items():
        writes = [write for write, _ in seen]
        cut = writes.index(commit) + 1 if commit in writes else len(writes)
        states = [state for _, state in seen]
        assert states == ["old"] * cut + ["new"] * (len(seen) - cut), (
            f"step {step!r}: crashes up to {commit!r} must leave the old index and later ones the new: {seen}"
        )
