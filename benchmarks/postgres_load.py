"""Lesson 12's figures: PostgreSQL with pgvector (HNSW) against the default JSON stores and Chroma, at N chunks.

    .venv/bin/python benchmarks/postgres_load.py [--n 20000] [--dim 256] [--queries 200] [--repeats 3] [--out benchmarks/results]

Builds the three from the same precomputed vectors (a mixture of topic centres plus noise; no embedding calls), then:
- load to first answer, in fresh processes (the import of llama_index.core timed apart; a store's own integration
  is imported inside "load"): ``load_index_from_storage`` and one top-5 query;
- query latency (median, p95) over ``--queries`` top-5 queries, and recall@5 against an exact numpy search.

PostgreSQL runs from the bundled server (persistlab.stores.postgres_server) with lesson 12's HNSW settings and
holds all three LlamaIndex stores. Chroma is arranged as lesson 08 teaches: a ``chromadb.PersistentClient``
collection created with the course's HNSW settings (``stores.CHROMA_HNSW``, through ``adapters.ChromaBackend``)
holds vectors and text; LlamaIndex's docstore (one hash per document, as ``sync_chroma_index`` leaves it) and
index store stay JSON files in a folder of their own, loaded with the vector store passed in. Chroma's query
figures come from a client opened again after the build, past one warm-up query (the first one loads the HNSW
index); the other two stores are queried through the store that built them.
Prints a Markdown table and writes it to OUT/postgres_load.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

JSON_ROW = "JSON (SimpleVectorStore)"
CHROMA_ROW = "Chroma (PersistentClient, HNSW)"
PG_ROW = "PostgreSQL + pgvector HNSW"
HNSW = {"hnsw_m": 16, "hnsw_ef_construction": 64, "hnsw_ef_search": 40, "hnsw_dist_method": "vector_cosine_ops"}
"""The settings lesson 12 uses."""
TOPICS = 200


def vectors(n: int, dim: int, seed: int, noise: float = 1.0) -> tuple[object, object]:
    """``n`` unit vectors around ``TOPICS`` centres, and each one's topic."""
    import numpy as np

    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(0).standard_normal((TOPICS, dim))
    topic = rng.integers(0, TOPICS, n)
    x = centres[topic] + noise * rng.standard_normal((n, dim))
    return x / np.linalg.norm(x, axis=1, keepdims=True), topic


def pg_stores(url: str, dim: int) -> object:
    from llama_index.core import StorageContext
    from llama_index.storage.docstore.postgres import PostgresDocumentStore
    from llama_index.storage.index_store.postgres import PostgresIndexStore
    from llama_index.vector_stores.postgres import PGVectorStore

    return StorageContext.from_defaults(
        vector_store=PGVectorStore.from_params(
            connection_string=url,
            async_connection_string=url.replace("+psycopg2", "+asyncpg"),
            table_name="chunks",
            embed_dim=dim,
            hnsw_kwargs=dict(HNSW),
        ),
        docstore=PostgresDocumentStore.from_uri(url, table_name="docstore"),
        index_store=PostgresIndexStore.from_uri(url, table_name="index_store"),
    )


def open_chroma(where: str) -> tuple[object, object]:
    """The client of the Chroma folder WHERE/chroma and a ``ChromaVectorStore`` over the course's collection in it."""
    import chromadb
    from llama_index.vector_stores.chroma import ChromaVectorStore

    from persistlab.stores import adapters

    client = chromadb.PersistentClient(path=f"{where}/chroma", settings=adapters.chroma_settings())
    collection = client.get_collection(adapters.CHROMA_COLLECTION, embedding_function=None)
    return client, ChromaVectorStore(chroma_collection=collection)


def chroma_stores(where: str) -> object:
    """Lesson 08's loading: the vector store passed in, the docstore and index store from WHERE/index."""
    from llama_index.core import StorageContext

    return StorageContext.from_defaults(vector_store=open_chroma(where)[1], persist_dir=f"{where}/index")  # type: ignore[arg-type]


def build_chroma(nodes: list[object], where: str, embed: object) -> None:
    """Vectors and text into Chroma, then LlamaIndex's folder: the index's struct and one hash per document."""
    import hashlib

    from llama_index.core import VectorStoreIndex

    from persistlab.stores import adapters

    adapters.ChromaBackend().build(nodes, Path(where) / "chroma", embed)  # type: ignore[arg-type]
    client, store = open_chroma(where)
    try:
        index = VectorStoreIndex.from_vector_store(store, embed_model=embed)  # type: ignore[arg-type]
        index.set_index_id("main")
        doc_ids = {node.ref_doc_id for node in nodes}  # type: ignore[attr-defined]
        index.docstore.set_document_hashes({d: hashlib.sha256(str(d).encode()).hexdigest() for d in doc_ids})
        index.storage_context.persist(persist_dir=f"{where}/index")
    finally:
        client.close()  # type: ignore[attr-defined]  # ClientAPI omits the client's close()


def child(kind: str, where: str, dim: int) -> dict[str, float]:
    """In a fresh process: import, load, answer one query; seconds for each."""
    t0 = time.perf_counter()
    from llama_index.core import QueryBundle, StorageContext, load_index_from_storage
    from llama_index.core.embeddings import MockEmbedding

    t1 = time.perf_counter()
    if kind == "postgres":
        context = pg_stores(where, dim)
    elif kind == "chroma":
        context = chroma_stores(where)
    else:
        context = StorageContext.from_defaults(persist_dir=where)
    index = load_index_from_storage(context, index_id="main", embed_model=MockEmbedding(embed_dim=dim))
    t2 = time.perf_counter()
    query, _ = vectors(1, dim, seed=99)
    hits = index.as_retriever(similarity_top_k=5).retrieve(QueryBundle("q", embedding=list(query[0])))
    t3 = time.perf_counter()
    assert len(hits) == 5
    return {"imports_s": t1 - t0, "load_s": t2 - t1, "first_query_s": t3 - t2, "to_first_answer_s": t3 - t1}


def fresh(kind: str, where: str, dim: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, where, "--dim", str(dim)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.splitlines()[-1])


def queries_stats(store: object, data: object, queries: object, k: int = 5) -> dict[str, float]:
    import numpy as np
    from llama_index.core.vector_stores import VectorStoreQuery

    times, recalls = [], []
    for q in queries:
        t = time.perf_counter()
        result = store.query(VectorStoreQuery(query_embedding=list(q), similarity_top_k=k))  # type: ignore[attr-defined]
        times.append(time.perf_counter() - t)
        exact = {f"c{i}" for i in np.argsort(-(data @ q))[:k]}  # type: ignore[operator]
        recalls.append(len(exact & set(result.ids or [])) / k)
    times.sort()
    return {
        "median_ms": 1000 * statistics.median(times),
        "p95_ms": 1000 * times[int(0.95 * (len(times) - 1))],
        "recall_at_5": statistics.mean(recalls),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--child", nargs=2)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child, args.dim)))
        return

    from llama_index.core import VectorStoreIndex
    from llama_index.core.embeddings import MockEmbedding
    from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode

    from persistlab.stores import adapters
    from persistlab.stores.postgres_server import postgres_server

    data, topic = vectors(args.n, args.dim, seed=1)
    queries, _ = vectors(args.queries, args.dim, seed=2)

    def nodes() -> list[TextNode]:
        return [
            TextNode(
                id_=f"c{i}",
                text=f"chunk {i} about topic {topic[i]}",  # type: ignore[index]
                embedding=list(map(float, data[i])),  # type: ignore[index]
                relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=f"doc{i // 10}")},
            )
            for i in range(args.n)
        ]

    embed = MockEmbedding(embed_dim=args.dim)  # never called: every node has its vector
    load_before = os.getloadavg()
    rows: dict[str, dict[str, float]] = {}

    def loads(kind: str, where: str, build_s: float) -> dict[str, float]:
        """The build time and the medians of --repeats fresh processes loading WHERE."""
        runs = [fresh(kind, where, args.dim) for _ in range(args.repeats)]
        return {"build_s": build_s, **{key: statistics.median(r[key] for r in runs) for key in runs[0]}}

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        index = VectorStoreIndex(nodes(), embed_model=embed)
        index.set_index_id("main")
        index.storage_context.persist(persist_dir=f"{tmp}/json")
        rows[JSON_ROW] = {
            **loads("json", f"{tmp}/json", time.perf_counter() - t),
            **queries_stats(index.vector_store, data, queries),
        }
        del index
        t = time.perf_counter()
        build_chroma(nodes(), f"{tmp}/chroma", embed)
        rows[CHROMA_ROW] = loads("chroma", f"{tmp}/chroma", time.perf_counter() - t)
        client, store = open_chroma(f"{tmp}/chroma")  # after the fresh processes: one client at a time
        try:
            queries_stats(store, data, queries[:1])  # type: ignore[index]  # warm-up: the first query loads the HNSW index
            rows[CHROMA_ROW] |= queries_stats(store, data, queries)
        finally:
            client.close()  # type: ignore[attr-defined]
        with postgres_server() as pg:
            t = time.perf_counter()
            index = VectorStoreIndex(nodes(), storage_context=pg_stores(pg.url, args.dim), embed_model=embed)  # type: ignore[arg-type]
            index.set_index_id("main")
            rows[PG_ROW] = {
                **loads("postgres", pg.url, time.perf_counter() - t),
                **queries_stats(index.vector_store, data, queries),
            }
    load_after = os.getloadavg()
    chroma_settings = ", ".join(
        f"{k}={adapters.CHROMA_HNSW[k]}" for k in ("space", "max_neighbors", "ef_construction", "ef_search")
    )
    pg_settings = ", ".join(f"{k.removeprefix('hnsw_')}={v}" for k, v in HNSW.items())
    command = " ".join([".venv/bin/python", "benchmarks/postgres_load.py", *sys.argv[1:]])
    lines = [
        f"Command: `{command}` (niceness {os.nice(0)}), {time.strftime('%d %b %Y', time.gmtime())}, "
        f"{os.cpu_count()} cores shared with other jobs; load average {load_before[0]:.1f} at the start, "
        f"{load_after[0]:.1f} at the end: times are wall-clock and move with the machine's load, compare rows.",
        "",
        f"{args.n} chunks, {args.dim}-d vectors, {args.queries} queries, median of {args.repeats} fresh processes.",
        "",
        "| store | build (s) | imports (s) | load (s) | first query (s) | load to first answer (s) | query median (ms) | query p95 (ms) | recall@5 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        lines.append(
            f"| {name} | {r['build_s']:.1f} | {r['imports_s']:.2f} | {r['load_s']:.2f} | {r['first_query_s']:.3f} "
            f"| {r['to_first_answer_s']:.2f} | {r['median_ms']:.1f} | {r['p95_ms']:.1f} | {r['recall_at_5']:.3f} |"
        )
    lines += [
        "",
        f"- {JSON_ROW}: `persist()`'s defaults, vectors, docstore and index store as JSON files in one folder; "
        "exact search.",
        f"- {CHROMA_ROW}: lesson 08's arrangement. A `chromadb.PersistentClient` collection holds vectors and text "
        f"(chromadb {version('chromadb')}, HNSW {chroma_settings}: `stores.CHROMA_HNSW`); LlamaIndex's docstore "
        "(one hash per document, no nodes) and index store are JSON files in a folder of their own, loaded with "
        "`StorageContext.from_defaults(vector_store=..., persist_dir=...)`. Its query figures come from a client "
        "opened after the build, past one warm-up query.",
        f"- {PG_ROW}: lesson 12's arrangement, `PGVectorStore` with HNSW {pg_settings}, and the docstore and index "
        "store in the same database (`PostgresDocumentStore`, `PostgresIndexStore`).",
        "- imports: `llama_index.core`; each store's own integration is imported inside load.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "postgres_load.md").write_text(text)


if __name__ == "__main__":
    main()
