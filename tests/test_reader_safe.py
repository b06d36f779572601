"""Readers loading while a writer swaps versions: lesson 10's pointer recipe gives every load one whole version.

Runs the race of ``benchmarks/concurrent_readers.py`` (lessons 05 and 10's own recipe cells, a writer process
publishing new versions as fast as it can, this process loading again and again with a short pause
after each file it reads) with bounded loads and time. Figures for more loads: run the benchmark.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest
from helpers import REPO

PAUSE_S = 0.002  # after each file the reader reads: widens the window between two files
MAX_SECONDS = 20.0  # per race, a bound for a very busy machine; a normal run takes a few seconds


def _benchmark():
    spec = importlib.util.spec_from_file_location("concurrent_readers", REPO / "benchmarks" / "concurrent_readers.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["concurrent_readers"] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


race = _benchmark()


def test_pointer_switch_gives_every_load_one_whole_version(tmp_path):
    figures = race.race("pointer", loads=200, pause_s=PAUSE_S, max_seconds=MAX_SECONDS, workdir=tmp_path)
    print(figures.line())
    assert figures.loads == 200, f"only {figures.loads} loads in {MAX_SECONDS} s: {figures.line()}"
    assert (figures.mixed, figures.failed) == (0, 0), figures.examples
    # the race was real: the writer kept switching while the reader loaded, and loads saw many versions
    assert figures.versions_published >= 10, figures.line()
    assert len(figures.versions_seen) >= 5, figures.line()


def test_naive_folder_swap_lets_a_reader_mix_two_versions(tmp_path):
    figures = race.race(
        "naive", loads=200, pause_s=PAUSE_S, max_seconds=MAX_SECONDS, workdir=tmp_path, stop_after_mixed=3
    )
    print(figures.line())
    assert figures.mixed >= 1, f"no mixed load in {figures.loads} loads: {figures.line()}"
    assert any(example.startswith("mixed: ") for example in figures.examples)


def test_the_check_sees_a_mix_and_passes_a_whole_version(tmp_path):
    """mixed_because, which judges every load above, is not blind: stores from two builds are caught."""
    from llama_index.core import Settings, StorageContext, load_index_from_storage

    race.use_small_embeddings()
    ns = race.lesson_recipes()
    for number in (1, 2):
        race.build_version(number).storage_context.persist(persist_dir=tmp_path / f"v{number}")
    whole = ns["load"](tmp_path / "v1")
    assert race.mixed_because(whole) is None
    one, two = (StorageContext.from_defaults(persist_dir=tmp_path / f"v{n}") for n in (1, 2))
    mixed_ids = StorageContext.from_defaults(
        docstore=one.docstore, index_store=two.index_store, vector_store=two.vector_store
    )
    reason = race.mixed_because(load_index_from_storage(mixed_ids, embed_model=Settings.embed_model))
    assert reason is not None and reason.startswith("node ids differ")
    # same node ids everywhere, but the vector file's metadata says another version
    relabelled = tmp_path / "relabelled"
    shutil.copytree(tmp_path / "v1", relabelled)
    vector_file = relabelled / "default__vector_store.json"
    data = json.loads(vector_file.read_text(encoding="utf-8"))
    for meta in data["metadata_dict"].values():
        meta["version"] = 2
    vector_file.write_text(json.dumps(data), encoding="utf-8")
    reason = race.mixed_because(ns["load"](relabelled))
    assert reason is not None and reason.startswith("version tags differ")


def test_a_reader_whose_version_is_retired_mid_load_loads_the_new_one(tmp_path):
    """open_current's retry: the version it resolved disappears between two files; it follows the pointer again."""
    race.use_small_embeddings()
    ns = race.lesson_recipes("pointer")
    root = tmp_path / "published"
    ns["publish_version"](race.build_version(1), root)
    real_load, calls = ns["load_version"], []

    def load_then_retire(folder, fs=None):  # the writer moves on (grace 0) while this reader is at its first file
        calls.append(Path(folder).name)
        if len(calls) == 1:
            ns["load_version"] = real_load  # for publish_version's own test load
            ns["publish_version"](race.build_version(2), root)
            assert ns["retire_old_versions"](root, grace_s=0) == [Path(folder).name]
            ns["load_version"] = load_then_retire
        return real_load(folder, fs)

    ns["load_version"] = load_then_retire
    index = ns["open_current"](root)
    assert calls == ["v000001", "v000002"]
    assert race.mixed_because(index) is None
    assert {node.metadata["version"] for node in index.docstore.docs.values()} == {2}

    ns["load_version"] = real_load  # a damaged live version is not retried: the error says which file
    (Path(ns["resolve_current"](root)) / "index_store.json").unlink()
    with pytest.raises(FileNotFoundError, match="index_store.json"):
        ns["open_current"](root)
