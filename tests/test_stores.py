"""Store adapters round-trip, NumpyVectorStore behaves as a LlamaIndex vector store, migration embeds nothing."""

from __future__ import annotations

import json
import time

import fsspec
import numpy as np
import pytest
from llama_index.core import StorageContext, VectorStoreIndex, load_index_from_storage
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores.types import (
    ExactMatchFilter,
    MetadataFilters,
    VectorStoreQuery,
)

import persistlab
from persistlab import stores
from persistlab.stores import bench

N = 60


def _exact_top(vectors: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    """The rows closest to ``query`` by inner product, best first: the test's own arithmetic, not the module's."""
    scores = [sum(float(a) * float(b) for a, b in zip(row, query)) for row in vectors]
    return sorted(range(len(vectors)), key=lambda i: -scores[i])[:k]


@pytest.fixture(scope="module")
def corpus() -> tuple[list[TextNode], np.ndarray, np.ndarray]:
    nodes, vectors = bench.corpus_nodes(N)
    queries = bench.query_vectors(4)
    return nodes, vectors, queries


@pytest.mark.parametrize("name", list(stores.BACKENDS))
def test_backend_round_trip_gives_the_exact_top_k(name, corpus, tmp_path):
    nodes, vectors, queries = corpus
    backend = stores.backend(name)
    if not backend.installed():
        pytest.skip(f"{name} is in the bench group only: python3 course.py setup bench")
    embed_model = bench.refusing_embed_model(vectors.shape[1])
    backend.build(nodes, tmp_path / name, embed_model)
    searcher = backend.load(tmp_path / name, embed_model)
    try:
        for q in queries:
            hits = searcher.top_k(q, 5)
            expected = _exact_top(vectors, q, 5)
            assert [h.node_id for h in hits] == [nodes[i].node_id for i in expected]
            assert [h.text for h in hits] == [nodes[i].text for i in expected]
            cosine = np.array([float(vectors[i] @ q) for i in expected])
            # Chroma's integration reports exp(-distance) with distance = 1 - cosine; LanceDB's, with the
            # squared L2 distance 2 - 2 cosine of unit vectors
            reported = {"chroma": np.exp(cosine - 1), "lancedb": np.exp(2 * cosine - 2)}.get(name, cosine)
            assert [h.score for h in hits] == pytest.approx(reported.tolist(), abs=1e-5)
    finally:
        searcher.close()


def test_unknown_backend_names_the_choices():
    with pytest.raises(
        ValueError, match="choose from json, faiss, faiss_map, chroma, lancedb, milvus, qdrant, numpy, floor"
    ):
        stores.backend("weaviate")


def test_loading_an_empty_folder_says_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="chroma.sqlite3"):
        stores.backend("chroma").load(tmp_path, bench.refusing_embed_model(8))


def test_building_nodes_without_vectors_is_refused(tmp_path):
    with pytest.raises(ValueError, match="have no embedding"):
        stores.backend("numpy").build([TextNode(text="salt cod")], tmp_path, bench.refusing_embed_model(8))


# --- Chroma's HNSW settings and what each store's score means -----------------------------------


def _unit_rows(rows: int, dim: int, seed: int) -> np.ndarray:
    matrix = np.random.default_rng(seed).standard_normal((rows, dim))
    return (matrix / np.linalg.norm(matrix, axis=1, keepdims=True)).astype(np.float32)


def test_the_course_hnsw_settings_find_the_top_5_that_chromas_defaults_miss(tmp_path):
    import chromadb

    vectors, queries = _unit_rows(2000, 512, seed=0), _unit_rows(50, 512, seed=1)  # random: HNSW's hard case
    exact = [set(np.argsort(-(vectors @ q), kind="stable")[:5].tolist()) for q in queries]
    client = chromadb.PersistentClient(path=str(tmp_path), settings=stores.chroma_settings())

    def recall(name: str, configuration: dict) -> float:
        collection = client.create_collection(name, configuration=configuration, embedding_function=None)
        for start in range(0, len(vectors), 1000):
            rows = range(start, min(start + 1000, len(vectors)))
            collection.add(ids=[str(i) for i in rows], embeddings=vectors[start : rows.stop])
        found = collection.query(query_embeddings=queries, n_results=5, include=[])["ids"]
        return float(np.mean([len(e & {int(i) for i in f}) / 5 for e, f in zip(exact, found)]))

    assert recall("chroma-defaults", {"hnsw": {"space": "cosine"}}) < 0.97  # the case the settings are for
    assert recall("course-settings", stores.CHROMA_CONFIGURATION) >= 0.99


def test_chroma_collections_get_the_course_hnsw_settings_in_either_spelling(corpus, tmp_path):
    import chromadb

    nodes, vectors, _ = corpus
    stores.backend("chroma").build(nodes[:5], tmp_path, bench.refusing_embed_model(vectors.shape[1]))
    client = chromadb.PersistentClient(path=str(tmp_path), settings=stores.chroma_settings())
    built = client.get_collection(stores.CHROMA_COLLECTION, embedding_function=None).configuration["hnsw"]
    legacy = client.create_collection("legacy-spelling", metadata=stores.CHROMA_METADATA, embedding_function=None)
    assert legacy.configuration["hnsw"] == built
    for key in ("space", "max_neighbors", "ef_construction", "ef_search", "sync_threshold"):
        assert built[key] == stores.CHROMA_HNSW[key], key


def test_faiss_and_chroma_report_their_raw_index_score_not_a_cosine(tmp_path):
    import chromadb
    import faiss
    from llama_index.vector_stores.chroma import ChromaVectorStore
    from llama_index.vector_stores.faiss import FaissVectorStore

    cosine = 0.6
    nodes = [_node(0, [1.0, 0.0]), _node(1, [cosine, 0.8])]  # unit vectors; the query is the first
    query = VectorStoreQuery(query_embedding=[1.0, 0.0], similarity_top_k=2)
    squared_l2 = [0.0, 2 - 2 * cosine]

    flat_l2 = FaissVectorStore(faiss_index=faiss.IndexFlatL2(2))
    flat_l2.add(nodes)
    assert flat_l2.query(query).similarities == pytest.approx(squared_l2)  # a distance: lower is closer

    client = chromadb.PersistentClient(path=str(tmp_path), settings=stores.chroma_settings())
    for configuration, distances in (
        ({"hnsw": {"space": "l2"}}, squared_l2),
        (stores.CHROMA_CONFIGURATION, [0.0, 1 - cosine]),
    ):
        space = configuration["hnsw"]["space"]
        collection = client.create_collection(f"space-{space}", configuration=configuration, embedding_function=None)
        store = ChromaVectorStore(chroma_collection=collection)
        store.add(nodes)
        assert store.query(query).similarities == pytest.approx(np.exp(-np.array(distances)).tolist()), space


# --- NumpyVectorStore ------------------------------------------------------------------------


def _node(i: int, vector: list[float], **metadata) -> TextNode:
    return TextNode(id_=f"n{i}", text=f"text {i}", embedding=vector, metadata=metadata)


def test_an_empty_numpy_store_is_still_used_by_storage_context():
    # StorageContext.from_defaults checks `if vector_store:`; a falsy empty store would be replaced silently
    store = stores.NumpyVectorStore()
    assert StorageContext.from_defaults(vector_store=store).vector_store is store


def test_numpy_store_persists_through_storage_context_and_loads_as_an_index(corpus, tmp_path):
    nodes, vectors, queries = corpus
    context = StorageContext.from_defaults(vector_store=stores.NumpyVectorStore())
    VectorStoreIndex(nodes, storage_context=context, embed_model=bench.refusing_embed_model(1536))
    context.persist(persist_dir=str(tmp_path))
    manifest = json.loads((tmp_path / "default__vector_store.manifest.json").read_text())
    assert manifest["count"] == N and manifest["dim"] == 1536
    with pytest.raises(KeyError, match="default"):  # forgetting the store at load time is loud, not an empty index
        load_index_from_storage(
            StorageContext.from_defaults(persist_dir=str(tmp_path)), embed_model=bench.refusing_embed_model(1536)
        )
    assert "docstore/data" not in json.loads((tmp_path / "docstore.json").read_text())  # text lives in the store

    store = stores.NumpyVectorStore.from_persist_dir(tmp_path)
    index = load_index_from_storage(
        StorageContext.from_defaults(persist_dir=str(tmp_path), vector_store=store),
        embed_model=bench.refusing_embed_model(1536),
    )
    result = index.as_retriever(similarity_top_k=3).retrieve(persistlab_query(queries[0]))
    expected = _exact_top(vectors, queries[0], 3)
    assert [r.node.node_id for r in result] == [nodes[i].node_id for i in expected]
    assert result[0].node.ref_doc_id == nodes[expected[0]].ref_doc_id


def persistlab_query(vector: np.ndarray):
    from llama_index.core import QueryBundle

    return QueryBundle(query_str="", embedding=vector.tolist())


def test_numpy_store_round_trips_through_an_fsspec_filesystem():
    fs = fsspec.filesystem("memory")
    store = stores.NumpyVectorStore()
    store.add([_node(0, [1.0, 0.0]), _node(1, [0.0, 2.0])])
    store.persist("/numpy-test/default__vector_store.json", fs=fs)
    loaded = stores.NumpyVectorStore.from_persist_path("/numpy-test/default__vector_store.json", fs=fs)
    result = loaded.query(VectorStoreQuery(query_embedding=[0.0, 1.0], similarity_top_k=1))
    assert result.ids == ["n1"] and result.similarities == pytest.approx([1.0])
    assert [n.embedding for n in loaded.get_nodes(["n1"])] == [[0.0, 1.0]]  # stored unit length


def test_numpy_store_filters_deletes_and_refuses_a_foreign_dimension():
    store = stores.NumpyVectorStore()
    store.add([_node(0, [1.0, 0.0], kind="salt"), _node(1, [0.9, 0.1], kind="ice"), _node(2, [0.0, 1.0], kind="ice")])
    only_ice = MetadataFilters(filters=[ExactMatchFilter(key="kind", value="ice")])
    result = store.query(VectorStoreQuery(query_embedding=[1.0, 0.0], similarity_top_k=2, filters=only_ice))
    assert result.ids == ["n1", "n2"]
    store.delete_nodes(["n1"])
    assert [n.node_id for n in store.get_nodes()] == ["n0", "n2"]
    with pytest.raises(ValueError, match="holds 2-d vectors; got 3-d"):
        store.add([_node(3, [1.0, 0.0, 0.0])])
    with pytest.raises(ValueError, match="different model"):
        store.query(VectorStoreQuery(query_embedding=[1.0, 0.0, 0.0], similarity_top_k=1))


def test_numpy_store_can_be_persisted_over_the_files_it_was_loaded_from(tmp_path):
    store = stores.NumpyVectorStore()
    store.add([_node(0, [1.0, 0.0]), _node(1, [0.0, 1.0])])
    path = str(tmp_path / "default__vector_store.json")
    store.persist(path)
    loaded = stores.NumpyVectorStore.from_persist_path(path)  # memory-maps the files
    loaded.persist(path)  # rewrites the files it is reading from
    loaded.add([_node(2, [0.6, 0.8])])
    loaded.persist(path)
    again = stores.NumpyVectorStore.from_persist_path(path)
    query = VectorStoreQuery(query_embedding=[0.0, 1.0], similarity_top_k=3)
    assert loaded.query(query).ids == again.query(query).ids == ["n1", "n2", "n0"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "default__vector_store.jsonl",
        "default__vector_store.manifest.json",
        "default__vector_store.npy",
        "default__vector_store.offsets.npy",
    ]


def test_a_partly_written_numpy_store_is_reported(tmp_path):
    store = stores.NumpyVectorStore()
    store.add([_node(0, [1.0, 0.0]), _node(1, [0.0, 1.0])])
    path = tmp_path / "default__vector_store.json"
    store.persist(str(path))
    (tmp_path / "default__vector_store.jsonl").write_bytes(b'{"id": "n0"}')  # as if the write stopped half-way
    with pytest.raises(ValueError, match="only partly written"):
        stores.NumpyVectorStore.from_persist_path(str(path))
    (tmp_path / "default__vector_store.manifest.json").write_text('{"embedding_dict": {}}')
    with pytest.raises(ValueError, match="not a NumpyVectorStore manifest"):
        stores.NumpyVectorStore.from_persist_path(str(path))


# --- migration -----------------------------------------------------------------------------------


def test_moving_a_default_index_to_other_stores_embeds_nothing(tmp_path):
    persistlab.setup(quiet=True)
    documents = persistlab.load_documents()[:6]
    question = "How does salt preserve fish?"
    index = VectorStoreIndex.from_documents(documents)
    index.storage_context.persist(persist_dir=str(tmp_path / "json"))
    before = [r.node.node_id for r in index.as_retriever(similarity_top_k=3).retrieve(question)]

    loaded = load_index_from_storage(StorageContext.from_defaults(persist_dir=str(tmp_path / "json")))
    with persistlab.metered() as m:
        nodes = stores.nodes_with_embeddings(loaded)
        numpy_index = VectorStoreIndex(
            nodes, storage_context=StorageContext.from_defaults(vector_store=stores.NumpyVectorStore())
        )
        faiss_backend = stores.backend("faiss")
        faiss_backend.build(nodes, tmp_path / "faiss", persistlab.embedding_model())
    assert m.requests == 0 and m.texts == 0
    assert len(nodes) == len(index.index_struct.nodes_dict) >= len(documents)
    assert all(len(n.embedding) == 1536 for n in nodes)

    after = [r.node.node_id for r in numpy_index.as_retriever(similarity_top_k=3).retrieve(question)]
    assert after == before


def test_nodes_with_embeddings_refuses_stores_that_keep_text():
    index = VectorStoreIndex(
        [_node(0, [1.0, 0.0])],
        storage_context=StorageContext.from_defaults(vector_store=stores.NumpyVectorStore()),
        embed_model=bench.refusing_embed_model(2),
    )
    with pytest.raises(ValueError, match="get_nodes"):
        stores.nodes_with_embeddings(index)


# --- the measurement itself ---------------------------------------------------------------------


def test_a_fresh_process_load_reports_the_exact_first_answer(corpus, tmp_path):
    nodes, vectors, queries = corpus
    stores.backend("floor").build(nodes, tmp_path / "floor", None)
    np.save(tmp_path / "q.npy", queries)
    started = time.perf_counter()
    run = bench.measure_load("floor", tmp_path / "floor", tmp_path / "q.npy")
    wall_s = time.perf_counter() - started
    assert run.ids[0] == [nodes[i].node_id for i in _exact_top(vectors, queries[0], 5)]
    assert (
        run.import_s > 0 and run.load_s > 0 and run.import_s + run.load_s < wall_s
    )  # measured in the child, in seconds
    assert run.peak_rss_mb > 0


def test_a_failing_child_surfaces_its_error(tmp_path):
    np.save(tmp_path / "q.npy", np.zeros((2, 4), dtype=np.float32))
    with pytest.raises(RuntimeError, match="holds no vectors.npy"):
        bench.measure_load("floor", tmp_path / "missing", tmp_path / "q.npy")


def test_ratios_compare_each_store_with_json_and_floor_at_the_same_size():
    def result(n, store, load_s):
        return bench.Result(n, store, store, 0, 0, load_s, 0, 0, 0, 1.0, 1)

    results = bench.add_ratios(
        [result(10, "json", 8.0), result(10, "numpy", 0.4), result(10, "floor", 0.1), result(20, "numpy", 1.0)]
    )
    assert results[1].x_faster_than_json == pytest.approx(20.0) and results[1].x_floor == pytest.approx(4.0)
    assert results[3].x_faster_than_json is None and results[3].x_floor is None


def _benchmark_script():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "vector_stores.py"
    spec = importlib.util.spec_from_file_location("vector_stores_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return path, module


def test_benchmark_script_writes_table_files_and_plot(tmp_path):
    import subprocess
    import sys

    script, _ = _benchmark_script()
    out = subprocess.run(
        [
            sys.executable,
            str(script),
            "--sizes",
            "10,30",
            "--stores",
            "json,numpy",
            "--repeats",
            "1",
            "--json-max",
            "10",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=900,  # three fresh processes; slow on a busy 2-core machine
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert {"results.csv", "results.json", "results.md", "load_vs_n.png"} <= {p.name for p in tmp_path.iterdir()}
    results = json.loads((tmp_path / "results.json").read_text())["results"]
    assert [(r["n"], r["store"]) for r in results] == [(10, "json"), (10, "numpy"), (30, "numpy")]
    assert all(r["recall"] == 1.0 and r["load_s"] > 0 for r in results)
    assert results[1]["x_faster_than_json"] == pytest.approx(results[0]["load_s"] / results[1]["load_s"])
    assert results[2]["x_faster_than_json"] is None and results[2]["x_floor"] is None
    assert "default JSON store skipped at N=30 (--json-max 10)" in out.stdout
    assert "N=30: numpy JSON not run, floor not run" in out.stdout
    assert not list((tmp_path / "stores").glob("n*/*")), "persisted stores are deleted unless --keep"


def test_benchmark_script_rejects_bad_sizes(capsys):
    _, module = _benchmark_script()
    with pytest.raises(SystemExit) as exit_info:
        module.main(["--sizes", "1k"])
    assert exit_info.value.code == 2
    assert "--sizes must be comma-separated integers" in capsys.readouterr().err


def test_chroma_settings_are_a_new_copy_for_each_client(tmp_path):
    import chromadb

    first, second = stores.chroma_settings(), stores.chroma_settings()
    assert first is not second and not first.anonymized_telemetry
    a = chromadb.PersistentClient(path=str(tmp_path / "a"), settings=first)
    chromadb.PersistentClient(path=str(tmp_path / "b"), settings=second)
    assert a.get_settings().persist_directory == str(tmp_path / "a")
