"""Loopback servers: S3 persist/load through fsspec, a Chroma server whose data survives a restart, clean-up."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from llama_index.core import StorageContext, VectorStoreIndex, load_index_from_storage
from llama_index.core.schema import TextNode

import persistlab
from persistlab import stores
from persistlab.stores import bench, local_servers


def test_free_port_is_free_and_on_loopback():
    port = local_servers.free_port()
    assert 1024 <= port <= 65535 and not local_servers.port_accepts(port)


def test_s3_round_trip_keeps_every_namespace_with_the_workaround():
    persistlab.setup(quiet=True)
    documents = persistlab.load_documents()[:4]
    with local_servers.s3_server() as s3:
        port = int(s3.endpoint_url.rsplit(":", 1)[1])
        assert s3.endpoint_url.startswith("http://127.0.0.1:") and local_servers.port_accepts(port)
        s3.make_bucket("indexes")
        fs = s3.filesystem()
        index = VectorStoreIndex.from_documents(documents)
        index.storage_context.persist(persist_dir="indexes/v1", fs=fs)
        assert {p.rsplit("/", 1)[1] for p in fs.ls("indexes/v1", detail=False)} >= {
            "docstore.json",
            "index_store.json",
            "default__vector_store.json",
            "image__vector_store.json",
        }

        # the bug: loading through fs keeps only the default namespace
        plain = StorageContext.from_defaults(persist_dir="indexes/v1", fs=fs)
        assert sorted(plain.vector_stores) == ["default"]

        fixed = StorageContext.from_defaults(
            persist_dir="indexes/v1", fs=fs, vector_stores=stores.simple_vector_stores("indexes/v1", fs)
        )
        assert sorted(fixed.vector_stores) == ["default", "image"]
        with persistlab.metered() as m:
            loaded = load_index_from_storage(fixed)
        assert m.requests == 0
        question = "How does brine preserve food?"
        expected = [r.node.node_id for r in index.as_retriever(similarity_top_k=3).retrieve(question)]
        assert [r.node.node_id for r in loaded.as_retriever(similarity_top_k=3).retrieve(question)] == expected
    assert not local_servers.port_accepts(port)


def test_numpy_store_round_trips_through_s3():
    nodes = [TextNode(id_=f"n{i}", text=f"text {i}", embedding=[float(i == j) for j in range(3)]) for i in range(3)]
    with local_servers.s3_server() as s3:
        s3.make_bucket("vectors")
        fs = s3.filesystem()
        store = stores.NumpyVectorStore()
        store.add(nodes)
        store.persist("vectors/v1/default__vector_store.json", fs=fs)
        loaded = stores.NumpyVectorStore.from_persist_dir("vectors/v1", fs=fs)
        assert [n.node_id for n in loaded.get_nodes()] == ["n0", "n1", "n2"]


def test_chroma_server_keeps_data_across_a_restart_and_serves_other_processes(tmp_path):
    nodes, vectors = bench.corpus_nodes(20)
    with local_servers.chroma_server(tmp_path / "db") as server:
        first_port = server.port
        collection = server.client().get_or_create_collection(
            "lesson", metadata={"hnsw:space": "cosine"}, embedding_function=None
        )
        collection.add(ids=[n.node_id for n in nodes], embeddings=vectors.tolist(), documents=[n.text for n in nodes])
        assert collection.count() == 20
    assert server.process.poll() is not None and not local_servers.port_accepts(first_port)

    with local_servers.chroma_server(tmp_path / "db") as server:
        collection = server.client().get_collection("lesson", embedding_function=None)
        assert collection.count() == 20
        child = textwrap.dedent(f"""
            import chromadb
            from chromadb.config import Settings
            client = chromadb.HttpClient(host="127.0.0.1", port={server.port}, settings=Settings(anonymized_telemetry=False))
            result = client.get_collection("lesson", embedding_function=None).query(
                query_embeddings=[{vectors[7].tolist()}], n_results=1)
            print(result["ids"][0][0])
        """)
        out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
        assert out.stdout.strip() == nodes[7].node_id
    assert not local_servers.port_accepts(server.port)


def test_a_server_that_cannot_start_is_reported_with_its_output(tmp_path, monkeypatch):
    script = tmp_path / "broken-chroma"
    script.write_text("#!/bin/sh\necho 'error: address already in use'\nexit 3\n")
    script.chmod(0o755)
    monkeypatch.setattr(local_servers, "chroma_command", lambda: [str(script)])
    with pytest.raises(RuntimeError, match="stopped while starting(.|\n)*address already in use"):
        with local_servers.chroma_server(tmp_path / "db"):
            pass


def test_s3_server_refuses_non_loopback_hosts():
    with pytest.raises(ValueError, match="loopback only"):
        with local_servers.s3_server(host="0.0.0.0"):
            pass
