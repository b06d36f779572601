"""Where a load spends its time: each store's load to first answer, split into phases, in fresh processes.

    .venv/bin/python benchmarks/load_breakdown.py [--n 20000] [--stores faiss,chroma,numpy,floor] [--out benchmarks/results]

Reuses the stores that `benchmarks/vector_stores.py --keep` left in OUT/stores/nN/, building any that are missing.
Each phase calls the same library functions a normal load calls, one step at a time, so the phases add up to
the load. Prints a Markdown table of median seconds per phase and writes OUT/load_breakdown.md and .json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

PHASES = (
    "vectors: open/read",
    "vectors: convert (dataclasses-json)",
    "docstore.json",
    "index store + index struct",
    "tokenizer (default splitter)",
    "index object",
    "first top-5 query",
)


def child(store: str, folder: str, queries_path: str) -> dict[str, float]:
    """Load ``store`` from ``folder`` phase by phase (imports done first, not timed)."""
    import numpy as np
    from llama_index.core import QueryBundle, Settings, StorageContext, VectorStoreIndex, load_index_from_storage
    from llama_index.core.storage.docstore import SimpleDocumentStore
    from llama_index.core.storage.index_store import SimpleIndexStore
    from llama_index.core.vector_stores.simple import SimpleVectorStore, SimpleVectorStoreData

    from persistlab import stores
    from persistlab.stores import bench

    stores.backend(store).import_modules()
    query = np.load(queries_path)[0]
    embed_model = bench.refusing_embed_model(query.shape[0])
    times: dict[str, float] = {}
    clock = [time.perf_counter()]

    def mark(phase: str) -> None:
        now = time.perf_counter()
        times[phase] = times.get(phase, 0.0) + now - clock[0]
        clock[0] = now

    def docstore_and_index_store() -> tuple[SimpleDocumentStore, SimpleIndexStore]:
        docstore = SimpleDocumentStore.from_persist_dir(folder)
        mark("docstore.json")
        index_store = SimpleIndexStore.from_persist_dir(folder)
        index_store.index_structs()  # what load_index_from_storage parses
        mark("index store + index struct")
        return docstore, index_store

    def through_index(context: StorageContext | None, vector_store=None) -> None:
        Settings.transformations  # noqa: B018 (the read builds it) built on first index construction: loads a tokenizer
        mark("tokenizer (default splitter)")
        if context is not None:
            index = load_index_from_storage(context, embed_model=embed_model)
        else:
            index = VectorStoreIndex.from_vector_store(vector_store, embed_model=embed_model)
        retriever = index.as_retriever(similarity_top_k=5)
        mark("index object")
        hits = retriever.retrieve(QueryBundle(query_str="", embedding=query.tolist()))
        assert hits and hits[0].node.get_content()
        mark("first top-5 query")

    clock[0] = time.perf_counter()
    start = clock[0]
    if store == "json":
        path = Path(folder, "default__vector_store.json")
        data = json.loads(path.read_text(encoding="utf-8"))
        mark("vectors: open/read")
        vector_store = SimpleVectorStore(data=SimpleVectorStoreData.from_dict(data))
        mark("vectors: convert (dataclasses-json)")
        docstore, index_store = docstore_and_index_store()
        image = SimpleVectorStore.from_persist_dir(folder, namespace="image")
        context = StorageContext.from_defaults(
            docstore=docstore,
            index_store=index_store,
            persist_dir=folder,
            vector_stores={"default": vector_store, "image": image},
        )
        through_index(context)
    elif store == "faiss":
        from llama_index.vector_stores.faiss import FaissVectorStore

        vector_store = FaissVectorStore.from_persist_dir(folder)
        mark("vectors: open/read")
        docstore, index_store = docstore_and_index_store()
        context = StorageContext.from_defaults(
            docstore=docstore, index_store=index_store, vector_store=vector_store, persist_dir=folder
        )
        through_index(context)
    elif store == "chroma":
        import chromadb
        from llama_index.vector_stores.chroma import ChromaVectorStore

        client = chromadb.PersistentClient(path=folder, settings=stores.chroma_settings())
        collection = client.get_collection(stores.CHROMA_COLLECTION, embedding_function=None)
        mark("vectors: open/read")
        through_index(None, ChromaVectorStore(chroma_collection=collection))
    elif store == "numpy":
        vector_store = stores.NumpyVectorStore.from_persist_dir(folder)
        mark("vectors: open/read")
        through_index(None, vector_store)
    elif store == "floor":
        searcher = stores.backend("floor").load(Path(folder))
        mark("vectors: open/read")
        searcher.top_k(query, 5)
        mark("first top-5 query")
    else:
        raise ValueError(f"no breakdown for store {store!r}")
    times["total"] = time.perf_counter() - start
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--stores", default="json,faiss,chroma,numpy,floor")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=3, metavar=("STORE", "FOLDER", "QUERIES"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(*args.child)))
        return 0

    from persistlab import stores
    from persistlab.stores import bench

    names = [s.strip() for s in args.stores.split(",") if s.strip()]
    queries = bench.query_vectors(bench.QUERIES, cache_dir=args.out / "cache")
    queries_path = args.out / "stores" / "queries-d1536.npy"
    queries_path.parent.mkdir(parents=True, exist_ok=True)
    import numpy as np

    np.save(queries_path, queries)
    medians: dict[str, dict[str, float]] = {}
    nodes = None
    for name in names:
        folder = args.out / "stores" / f"n{args.n}" / name
        if not folder.exists():
            if nodes is None:
                nodes, _ = bench.corpus_nodes(args.n, cache_dir=args.out / "cache")
            print(f"building {name} at N={args.n:,} in {folder}", file=sys.stderr)
            stores.backend(name).build(nodes, folder, bench.refusing_embed_model(1536))
        runs = []
        for _ in range(1 if name == "json" else args.repeats):  # one JSON load takes minutes at 20,000
            out = subprocess.run(
                [sys.executable, __file__, "--child", name, str(folder), str(queries_path)],
                capture_output=True,
                text=True,
                check=False,
            )
            if out.returncode:
                raise RuntimeError(f"{name}: {out.stderr[-3000:]}")
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        medians[name] = {k: statistics.median(r.get(k, 0.0) for r in runs) for k in (*PHASES, "total")}
        print(f"{name}: total {medians[name]['total']:.3f} s over {len(runs)} run(s)", file=sys.stderr)

    header = "| phase (s) | " + " | ".join(names) + " |"
    lines = [header, "|---|" + "---:|" * len(names)]
    for phase in (*PHASES, "total"):
        cells = [f"{medians[n][phase]:.3f}" if medians[n][phase] else "-" for n in names]
        label = f"**{phase}**" if phase == "total" else phase
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    print(table)
    (args.out / "load_breakdown.md").write_text(f"N = {args.n:,}\n\n{table}\n", encoding="utf-8")
    (args.out / "load_breakdown.json").write_text(json.dumps({"n": args.n, "medians": medians}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
