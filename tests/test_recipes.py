"""Every update recipe a lesson teaches, loaded from the lesson itself, survives the scripted history of
``histories.py``; the pattern lesson 07 warns against (a pipeline sharing the index's stores) fails it."""

from __future__ import annotations

import uuid
from pathlib import Path

import fsspec
import pytest
from histories import SHARED_STORES, Recipe, refreshed_and_persisted, run_history
from llama_index.core import Settings, StorageContext, VectorStoreIndex
from llama_index.core.storage.docstore import SimpleDocumentStore
from notebook_recipes import recipes

import persistlab
from persistlab.grading.consistency import check_consistent

LESSONS = Path(__file__).resolve().parents[1] / "lessons"


pytestmark = pytest.mark.usefixtures("small_vectors")


def lesson07() -> Recipe:
    ns = recipes(LESSONS / "07_sync_with_a_folder.ipynb")

    def hashes(folder: Path, splitter: object) -> SimpleDocumentStore:
        live = ns["current_version"](ns["settings_folder"](folder, splitter))
        return SimpleDocumentStore.from_persist_path(str(live / "pipeline" / "docstore.json"))

    return Recipe(
        "lesson 07 sync_folder",
        lambda docs, folder, splitter: ns["sync_folder"](docs, folder, splitter),
        ns["open_synced_index"],
        hashes,
    )


def test_lesson07_sync_folder_survives_the_history(tmp_path: Path) -> None:
    passed = run_history(lesson07(), tmp_path).passed
    assert passed[-1] == "change chunking", passed


def test_the_shared_stores_pattern_fails_the_history(tmp_path: Path) -> None:
    with pytest.raises(
        AssertionError, match=r"step 'build': the index lists 8 node ids but its docstore holds 12 entries"
    ):
        run_history(SHARED_STORES, tmp_path)


def lesson10_versions_on_fs() -> Recipe:
    """Lesson 10's versions behind a pointer (publish_version / open_current with ``fs=``) on an in-memory file
    system, as on S3, in the course's update rule (``histories.refreshed_and_persisted``): each change is published
    as the next version, and the old one retired at once (no readers here)."""
    fs = fsspec.filesystem("memory")
    base = f"history/{uuid.uuid4().hex}"

    def lesson() -> dict:
        return recipes(LESSONS / "10_object_storage_and_versions.ipynb")

    def publish(index: VectorStoreIndex, where: Path) -> None:
        ns = lesson()
        ns["publish_version"](index, f"{base}/{where.name}", fs=fs)
        ns["retire_old_versions"](f"{base}/{where.name}", grace_s=0, fs=fs)

    def load(where: Path) -> VectorStoreIndex:
        ns = lesson()
        assert ns["repair_versions"](f"{base}/{where.name}", fs) == [], "a clean publish left something to repair"
        return ns["open_current"](f"{base}/{where.name}", fs)

    return refreshed_and_persisted(
        "lesson 10 versions on an fsspec file system",
        publish,
        load,
        lambda where: fs.exists(f"{base}/{where.name}/CURRENT"),
    )


def test_lesson10_versions_on_a_file_system_survive_the_history(tmp_path: Path) -> None:
    assert run_history(lesson10_versions_on_fs(), tmp_path).passed[-1] == "change chunking"


def lesson08_chroma() -> Recipe:
    """Lesson 08's index on Chroma: nodes, text and vectors in a PersistentClient folder, nothing else. (A crash at
    each of its Chroma calls: the generated histories, ``tests/test_generated_histories.py``, and the lesson's proof
    cell.)"""

    def update(documents: list, folder: Path, splitter: object) -> None:
        recipes(LESSONS / "08_vector_stores.ipynb")["sync_chroma_index"](folder / "chroma", documents, splitter)

    def load(folder: Path, splitter: object) -> VectorStoreIndex:
        return recipes(LESSONS / "08_vector_stores.ipynb")["open_chroma_index"](folder / "chroma", splitter)

    return Recipe("lesson 08 sync_chroma_index", update, load, hashes=lambda folder, splitter: None)


def test_lesson08_chroma_index_survives_the_history(tmp_path: Path) -> None:
    """The whole history; then a deleted document comes back unchanged and must be embedded again (a hash left
    behind by the deletion would make refresh_ref_docs skip it). Nothing but Chroma's folder is written."""
    from histories import SECOND_SPLITTER, chunks, documents_from, script

    recipe = lesson08_chroma()
    passed = run_history(recipe, tmp_path).passed
    assert passed[-1] == "change chunking", passed
    assert [p.name for p in tmp_path.iterdir()] == ["chroma"]
    steps = script()
    documents = documents_from({**steps[-1].texts, "smoke.md": steps[0].texts["smoke.md"]})
    with persistlab.metered() as usage:
        recipe.update(documents, tmp_path, SECOND_SPLITTER)
    assert usage.texts == chunks([d for d in documents if d.id_ == "smoke.md"], SECOND_SPLITTER)
    check_consistent(recipe.load(tmp_path, SECOND_SPLITTER), documents, splitter=SECOND_SPLITTER, hashes=None)


def test_lesson03_manifest_refuses_a_changed_chunking(tmp_path: Path) -> None:
    """Lesson 03's open_index: build, restart (loads, pays only the probe check), change chunking (refused, the
    error names the setting), raise the version (a fresh, consistent index)."""
    from histories import FIRST_SPLITTER, SECOND_SPLITTER, chunks, documents_from, script

    ns = recipes(LESSONS / "03_embedding_model_mismatch.ipynb", STORAGE=tmp_path)
    model = persistlab.embedding_model("text-embedding-3-small")
    probes = len(ns["PROBE_TEXTS"])
    documents = documents_from(script()[0].texts)
    for step, paid in [("build", chunks(documents, FIRST_SPLITTER) + probes), ("restart", probes)]:
        with persistlab.metered() as usage:
            index = ns["open_index"](documents, model, splitter=FIRST_SPLITTER)
        assert usage.texts == paid, f"{step}: embedded {usage.texts} texts, expected {paid}"
        check_consistent(index, documents, splitter=FIRST_SPLITTER)
    with pytest.raises(ns["ChunkingMismatch"], match=r"chunk_size=64 when built, 128 now"):
        ns["open_index"](documents, model, splitter=SECOND_SPLITTER)
    with persistlab.metered() as usage:
        index = ns["open_index"](documents, model, version=2, splitter=SECOND_SPLITTER)
    assert usage.texts == chunks(documents, SECOND_SPLITTER) + probes
    check_consistent(index, documents, splitter=SECOND_SPLITTER)


def test_lesson02_load_or_build_builds_once_reloads_free_and_refuses_a_damaged_folder(tmp_path: Path) -> None:
    """Lesson 02's load_or_build: build, restart twice with zero embedding calls and the same answers, then a
    folder that lost its vector store is refused (not rebuilt over) and left as it was."""
    from histories import TOPICS
    from llama_index.core import Document, load_index_from_storage

    ns = recipes(
        LESSONS / "02_reload_correctly.ipynb",
        Path=Path,
        StorageContext=StorageContext,
        VectorStoreIndex=VectorStoreIndex,
        load_index_from_storage=load_index_from_storage,
    )
    documents = [Document(id_=name, text=text) for name, text in TOPICS.items()]
    folder = tmp_path / "index"

    def start() -> tuple[VectorStoreIndex, persistlab.Usage]:
        with persistlab.metered() as cost:
            index = ns["load_or_build"](folder, documents, Settings.embed_model)
        return index, cost

    built, cost = start()
    assert cost.texts == len(documents), cost
    answers = [built.as_retriever(similarity_top_k=1).retrieve(text)[0].node.ref_doc_id for text in TOPICS.values()]
    assert answers == list(TOPICS)
    for _ in range(2):
        index, cost = start()
        assert cost.requests == 0, f"a restart embedded: {cost}"
        check_consistent(index, documents, splitter=Settings.node_parser)  # from_documents' default
        assert [
            index.as_retriever(similarity_top_k=1).retrieve(t)[0].node.ref_doc_id for t in TOPICS.values()
        ] == answers

    (folder / "default__vector_store.json").unlink()
    left = sorted(p.name for p in folder.iterdir())
    with persistlab.metered() as cost, pytest.raises(RuntimeError, match="partial or damaged index"):
        ns["load_or_build"](folder, documents, Settings.embed_model)
    assert cost.requests == 0 and sorted(p.name for p in folder.iterdir()) == left
