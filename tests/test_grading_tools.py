"""The grading tools (persistlab.grading): counts the learner's code cannot fake, and fixtures that do what they say."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
from llama_index.core import Settings, VectorStoreIndex

import persistlab
from persistlab import grading
from persistlab.learning import meter
from persistlab.simulator.service import SimulatorTransport


@pytest.fixture()
def model() -> tuple:
    return grading.counting_embedding_model("text-embedding-3-small")


def test_counts_requests_and_texts_the_meter_also_sees(model: tuple) -> None:
    embed_model, counter = model
    with counter.watch() as calls:
        embed_model.get_text_embedding_batch(["salt cod", "sauerkraut", "jam"])
        embed_model.get_query_embedding("how long does jam keep?")
    assert (calls.requests, calls.texts) == (2, 4)
    assert calls.inputs == ["salt cod", "sauerkraut", "jam", "how long does jam keep?"]
    assert (counter.requests, counter.texts) == (2, 4)


def test_async_calls_are_counted(model: tuple) -> None:
    import asyncio

    embed_model, counter = model
    with counter.watch() as calls:
        asyncio.run(embed_model.aget_text_embedding_batch(["a brine", "a smokehouse"]))
    assert calls.texts == 2


def test_resetting_usage_does_not_change_the_count(model: tuple) -> None:
    embed_model, counter = model
    with counter.watch() as calls:
        embed_model.get_text_embedding("dried figs")
        persistlab.usage.reset()
    assert calls.requests == 1


def test_patched_meter_function_is_caught(model: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    embed_model, counter = model
    monkeypatch.setattr(meter, "record_embedding", lambda *args, **kwargs: None)
    with pytest.raises(grading.TamperingError, match="persistlab.learning.meter.record_embedding"):
        with counter.watch():
            embed_model.get_text_embedding("dried figs")


def test_replaced_metered_is_caught(model: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    _, counter = model

    @contextlib.contextmanager
    def fake():  # type: ignore[no-untyped-def]
        yield meter.Usage()

    monkeypatch.setattr(persistlab, "metered", fake)
    with pytest.raises(grading.TamperingError, match="persistlab.metered"):
        with counter.watch():
            pass


def test_patched_method_code_is_caught(model: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    _, counter = model
    monkeypatch.setattr(meter.Usage.add_embedding, "__code__", (lambda self, model, texts, tokens: None).__code__)
    with pytest.raises(grading.TamperingError, match="Usage.add_embedding"):
        with counter.watch():
            pass


def test_patched_openai_embedding_is_caught(model: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    from llama_index.embeddings.openai import OpenAIEmbedding

    _, counter = model
    monkeypatch.setattr(OpenAIEmbedding, "_get_text_embeddings", lambda self, texts: [[0.0]] * len(texts))
    with pytest.raises(grading.TamperingError, match="no longer reach the grader's server"):
        with counter.watch():
            pass


def test_swapped_client_is_caught(model: tuple) -> None:
    embed_model, counter = model
    with pytest.raises(grading.TamperingError, match="HTTP client was replaced"):
        with counter.watch():
            embed_model._http_client = httpx.Client(transport=SimulatorTransport())
            embed_model._client = None
            embed_model.get_text_embedding("uncounted")


def test_unhooked_meter_is_caught(model: tuple) -> None:
    embed_model, counter = model
    with pytest.raises(grading.TamperingError, match="hook was removed"):
        with counter.watch():
            embed_model._http_client.event_hooks = {"request": [], "response": []}
            embed_model.get_text_embedding("unmetered")


def test_vectors_made_without_the_server_are_caught(model: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    """Query vectors computed in this process (right as they are) never reach the counting server: caught."""
    from llama_index.embeddings.openai import OpenAIEmbedding

    from persistlab.simulator.service import embed_vectors

    embed_model, counter = model
    vector = embed_model.get_text_embedding("salt cod")  # the server answers with the simulator's vectors
    assert float(np.dot(vector, embed_vectors(["salt cod"], "text-embedding-3-small")[0])) > 0.9999
    monkeypatch.setattr(
        OpenAIEmbedding,
        "_get_query_embedding",
        lambda self, query: embed_vectors([query], "text-embedding-3-small")[0].tolist(),
    )
    with pytest.raises(grading.TamperingError, match="no longer reach the grader's server"):
        with counter.watch():
            pass


def test_probes_are_not_counted(model: tuple) -> None:
    embed_model, counter = model
    for _ in range(2):
        with counter.watch() as calls:
            embed_model.get_text_embedding("jam")
        assert (calls.requests, calls.inputs) == (1, ["jam"])
    assert (counter.requests, counter.inputs) == (2, ["jam", "jam"])


def test_calls_to_another_model_fail(model: tuple) -> None:
    _, counter = model
    other, _ = grading.counting_embedding_model("text-embedding-ada-002")
    with pytest.raises(AssertionError, match="another model"):
        with counter.watch():
            other.get_text_embedding("pickled herring")


def test_errors_inside_watch_pass_through_unchanged(model: tuple) -> None:
    _, counter = model
    with pytest.raises(KeyError):
        with counter.watch():
            raise KeyError("the learner's own bug")


def test_noise_keeps_vectors_close_and_vectors_from_changes_them() -> None:
    exact, _ = grading.counting_embedding_model("text-embedding-3-small")
    noisy, _ = grading.counting_embedding_model("text-embedding-3-small", noise=0.03, seed=3)
    other, _ = grading.counting_embedding_model("text-embedding-3-small", vectors_from="text-embedding-ada-002")
    texts = ["salt draws water out of fish", "a root cellar in winter"]
    a, b, c = (np.array(m.get_text_embedding_batch(texts)) for m in (exact, noisy, other))
    cosine = lambda x, y: (x * y).sum(1) / (np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1))  # noqa: E731
    assert (cosine(a, b) > 0.998).all() and (cosine(a, b) < 1.0).all()
    assert (np.abs(cosine(a, c)) < 0.3).all()
    assert b.shape == c.shape == (2, 1536)


def test_sample_documents_are_deterministic_distinct_and_findable() -> None:
    first, again, other = grading.sample_documents(5), grading.sample_documents(5), grading.sample_documents(6)
    assert [(d.id_, d.text) for d in first] == [(d.id_, d.text) for d in again]
    assert not {d.id_ for d in first} & {d.id_ for d in other}
    long = grading.sample_documents(5, n=1, sentences=12)[0]
    assert long.text.count("\n\n") == 2 and grading.code_of(long) in long.text
    embed_model, _ = grading.counting_embedding_model("text-embedding-3-large")
    index = VectorStoreIndex.from_documents(first, embed_model=embed_model)
    assert [grading.top_doc_id(index, grading.question_about(d)) for d in first] == [d.id_ for d in first]


def test_revise_replaces_the_first_sentence() -> None:
    doc = grading.sample_documents(7, n=1, sentences=8)[0]
    revision = grading.revise(doc)
    assert revision.document.id_ == doc.id_
    assert revision.old_sentence in doc.text and revision.old_sentence not in revision.document.text
    assert revision.document.text.startswith(revision.new_sentence)


def test_fresh_dir_is_removed_afterwards() -> None:
    with grading.fresh_dir() as tmp:
        (tmp / "file").write_text("x")
    assert not tmp.exists()


def test_swap_stored_vectors_changes_what_a_loaded_index_answers(tmp_path: Path) -> None:
    embed_model, _ = grading.counting_embedding_model()
    docs = grading.sample_documents(8)
    grading.persist_reference_index(docs, tmp_path, embed_model)
    grading.swap_stored_vectors(tmp_path, docs[0].id_, docs[1].id_)
    loaded = grading.load_reference_index(tmp_path, embed_model)
    assert grading.top_doc_id(loaded, grading.question_about(docs[0])) == docs[1].id_


def test_stored_doc_ids_and_damage(tmp_path: Path) -> None:
    embed_model, _ = grading.counting_embedding_model()
    docs = grading.sample_documents(9)
    grading.persist_reference_index(docs, tmp_path, embed_model)
    assert grading.stored_doc_ids(tmp_path) == {d.id_ for d in docs}
    grading.damage(tmp_path, "docstore.json", "truncate")
    with pytest.raises(AssertionError, match="not hold a complete"):
        grading.stored_doc_ids(tmp_path)


def test_settings_embed_model_is_restored() -> None:
    persistlab.setup(quiet=True)
    before = Settings.embed_model
    decoy, _ = grading.counting_embedding_model("text-embedding-ada-002")
    with grading.settings_embed_model(decoy):
        assert Settings.embed_model is decoy
    assert Settings.embed_model is before


def _persist_naively(index: VectorStoreIndex, target: Path) -> None:
    index.storage_context.persist(persist_dir=str(target))


def test_crash_while_writing_leaves_half_a_file(tmp_path: Path) -> None:
    embed_model, _ = grading.counting_embedding_model()
    index = VectorStoreIndex.from_documents(grading.sample_documents(10), embed_model=embed_model)
    with grading.crash_while_writing("default__vector_store.json") as crash:
        error = grading.attempt(_persist_naively, index, tmp_path)
    assert crash.fired and isinstance(error, grading.InjectedFailure)
    with pytest.raises(json.JSONDecodeError):
        json.loads((tmp_path / "default__vector_store.json").read_text())
    with pytest.raises(AssertionError, match="not a complete index"):
        grading.check_after_crash(crash, error, tmp_path, {"a"}, {"b"})


def test_crash_on_rename_and_delete_only_touch_paths_under_the_folder(tmp_path: Path) -> None:
    inside, outside = tmp_path / "inside", tmp_path / "outside"
    inside.mkdir()
    outside.mkdir()
    (inside / "a").write_text("a")
    (outside / "a").write_text("a")
    with grading.crash_on_rename(2, under=inside) as crash:
        os.replace(outside / "a", outside / "b")  # not counted
        os.replace(inside / "a", inside / "b")  # first
        with pytest.raises(grading.InjectedFailure):
            Path(inside / "b").rename(inside / "c")  # second: fails before renaming
    assert crash.fired and (inside / "b").exists()
    (inside / "sub").mkdir()
    (inside / "sub" / "x").write_text("x")
    (inside / "sub" / "y").write_text("y")
    with grading.crash_on_delete(under=inside) as crash:
        shutil.rmtree(outside)  # not inside: deleted normally
        with pytest.raises(grading.InjectedFailure):
            shutil.rmtree(inside / "sub")
    assert not outside.exists() and sorted(p.name for p in (inside / "sub").iterdir()) == ["y"]


def test_check_after_crash_wants_the_error_reported(tmp_path: Path) -> None:
    embed_model, _ = grading.counting_embedding_model()
    docs = grading.sample_documents(11)
    grading.persist_reference_index(docs, tmp_path, embed_model)
    crash = grading.Crash("somewhere", fired=True)
    with pytest.raises(AssertionError, match="returned normally"):
        grading.check_after_crash(crash, None, tmp_path, {d.id_ for d in docs}, set())
    assert grading.check_after_crash(crash, OSError("x"), tmp_path, {d.id_ for d in docs}, set()) == "old"


def test_private_memory_fs_has_its_own_store_and_dir_fs_stays_in_its_folder(tmp_path: Path) -> None:
    import fsspec

    first, second = grading.private_memory_fs(), grading.private_memory_fs()
    first.pipe_file("bucket/CURRENT", b"v1")
    assert first.cat_file("bucket/CURRENT") == b"v1"
    assert not second.exists("bucket/CURRENT") and not fsspec.filesystem("memory").exists("bucket/CURRENT")
    local = grading.dir_fs(tmp_path)
    local.pipe_file("bucket/deep/CURRENT", b"v2")  # no folders needed, as in an object store
    assert (tmp_path / "bucket" / "deep" / "CURRENT").read_bytes() == b"v2"


def test_editing_a_guarded_source_file_is_not_tampering_but_patching_still_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    source = tmp_path / "persistlab_guarded_probe.py"
    source.write_text("def price(tokens):\n    return tokens * 2\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    probe = importlib.import_module("persistlab_guarded_probe")
    monkeypatch.setitem(sys.modules, probe.__name__, probe)  # removed again after the test
    monkeypatch.setattr(grading.integrity, "GUARDED_MODULES", (*grading.GUARDED_MODULES, probe.__name__))
    monkeypatch.setattr(grading.integrity, "_REFERENCE", dict(grading.integrity._REFERENCE))
    grading.check_meter_integrity()  # takes the probe's reference, as for a module imported after persistlab.grading

    # A package update lands on disk while the kernel runs: the code in memory is still what was checked.
    source.write_text("def price(tokens):\n    return tokens * 3\n\n\ndef added():\n    return 1\n", encoding="utf-8")
    grading.check_meter_integrity()

    monkeypatch.setattr(probe, "price", lambda tokens: 0)
    with pytest.raises(grading.TamperingError, match="persistlab_guarded_probe.price"):
        grading.check_meter_integrity()
