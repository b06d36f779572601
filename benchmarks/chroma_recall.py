"""Chroma's recall@5 against its HNSW settings, and what each setting costs in build and query time.

    .venv/bin/python benchmarks/chroma_recall.py [--sizes 1000,5000] [--settings ...] [--out benchmarks/results]

The vectors and the 100 queries are those of ``benchmarks/vector_stores.py`` (``persistlab.stores.bench``:
synthetic texts embedded by the simulator, cached as .npy in --out/cache). For each N and each build setting:

- **build s**: a ``chromadb.PersistentClient`` collection created with ``configuration={"hnsw": {...}}``
  (cosine space, the course's sync settings), filled through LlamaIndex (``VectorStoreIndex`` over
  ``ChromaVectorStore``, as the benchmark's ``chroma`` store is), then the client closed;
- then, for each ``ef_search``: the folder is opened again, ``ef_search`` set with ``collection.modify`` (the one
  HNSW setting that can change after creation), and every query asked through a LlamaIndex retriever.
  **query ms**: median and 95th percentile of the queries after the first (which loads the index);
  **recall@5**: the mean share of each query's exact top 5 (brute force) that came back; **worst**: the lowest
  share of any one query.

Prints the table and writes chroma_recall.md and chroma_recall.json to --out. Timings are wall-clock: run it
alone on a quiet machine and compare rows, not machines.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from persistlab.stores import adapters, bench, bench_report

CHROMA_DEFAULTS = {"max_neighbors": 16, "ef_construction": 100, "ef_search": 100}
"""chromadb 1.5.9's HNSW defaults, for a collection created without them."""


@dataclass(frozen=True)
class Build:
    max_neighbors: int
    ef_construction: int
    ef_searches: tuple[int, ...]


@dataclass
class Row:
    n: int
    max_neighbors: int
    ef_construction: int
    ef_search: int
    label: str
    build_s: float
    median_ms: float
    p95_ms: float
    recall: float
    worst: float


def parse_settings(text: str) -> list[Build]:
    """``MxEFC:EF+EF,...``, e.g. ``16x100:100+400,32x200:100+400``."""
    builds = []
    try:
        for part in text.split(","):
            build, _, searches = part.strip().partition(":")
            m, efc = (int(x) for x in build.split("x"))
            builds.append(Build(m, efc, tuple(int(e) for e in searches.split("+"))))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--settings wants M x ef_construction : ef_search+..., got {text!r}"
        ) from None
    return builds


DEFAULT_SETTINGS = "16x100:100+400,32x200:100+200+400"


def label(m: int, efc: int, ef: int) -> str:
    setting = {"max_neighbors": m, "ef_construction": efc, "ef_search": ef}
    if setting == CHROMA_DEFAULTS:
        return "Chroma's defaults"
    if setting == {key: adapters.CHROMA_HNSW[key] for key in setting}:
        return "the course's (CHROMA_HNSW)"
    return ""


def hnsw(build: Build) -> dict[str, Any]:
    return {
        **adapters.CHROMA_HNSW,
        "max_neighbors": build.max_neighbors,
        "ef_construction": build.ef_construction,
        "ef_search": build.ef_searches[0],
    }


def ask_all(folder: Path, ef_search: int, queries: np.ndarray, dim: int) -> tuple[list[float], list[list[str]]]:
    """Open ``folder``, set ``ef_search``, ask every query through LlamaIndex: latencies (ms) and the ids found."""
    import chromadb
    from llama_index.vector_stores.chroma import ChromaVectorStore

    client = chromadb.PersistentClient(path=str(folder), settings=adapters.chroma_settings())
    collection = client.get_collection(adapters.CHROMA_COLLECTION, embedding_function=None)
    collection.modify(configuration={"hnsw": {"ef_search": ef_search}})
    searcher = adapters.searcher_over(
        ChromaVectorStore(chroma_collection=collection), bench.refusing_embed_model(dim), on_close=client.close
    )
    try:
        latencies, ids = [], []
        for q in queries:
            start = time.perf_counter()
            hits = searcher.top_k(q, bench.TOP_K)
            latencies.append((time.perf_counter() - start) * 1000)
            ids.append([h.node_id for h in hits])
        return latencies[1:], ids  # the first query also loads the index
    finally:
        searcher.close()


def measure(n: int, builds: list[Build], dim: int, work: Path, cache: Path, note: Any = print) -> list[Row]:
    nodes, vectors = bench.corpus_nodes(n, dim, cache)
    queries = bench.query_vectors(bench.QUERIES, dim, cache)
    node_ids = [node.node_id for node in nodes]
    truth = [{node_ids[i] for i in adapters.brute_force_ids(vectors, q, bench.TOP_K)} for q in queries]
    rows = []
    for build in builds:
        folder = work / f"n{n}-M{build.max_neighbors}-efc{build.ef_construction}"
        shutil.rmtree(folder, ignore_errors=True)
        start = time.perf_counter()
        adapters.ChromaBackend(hnsw(build)).build(nodes, folder, bench.refusing_embed_model(dim))
        build_s = time.perf_counter() - start
        for ef in build.ef_searches:
            latencies, found = ask_all(folder, ef, queries, dim)
            shares = [len(t & set(ids)) / bench.TOP_K for t, ids in zip(truth, found)]
            ordered = sorted(latencies)
            row = Row(
                n=n,
                max_neighbors=build.max_neighbors,
                ef_construction=build.ef_construction,
                ef_search=ef,
                label=label(build.max_neighbors, build.ef_construction, ef),
                build_s=build_s,
                median_ms=statistics.median(ordered),
                p95_ms=ordered[round(0.95 * (len(ordered) - 1))],
                recall=statistics.fmean(shares),
                worst=min(shares),
            )
            rows.append(row)
            note(text_row(row))
        shutil.rmtree(folder, ignore_errors=True)
    return rows


COLUMNS = ("N", "M", "ef_construction", "ef_search", "build s", "query ms", "p95 ms", "recall@5", "worst", "setting")


def cells(r: Row) -> tuple[str, ...]:
    return (
        f"{r.n:,}",
        str(r.max_neighbors),
        str(r.ef_construction),
        str(r.ef_search),
        f"{r.build_s:.1f}",
        f"{r.median_ms:.1f}",
        f"{r.p95_ms:.1f}",
        f"{r.recall:.3f}",
        f"{r.worst:.1f}",
        r.label,
    )


WIDTHS = (7, 3, 15, 9, 8, 8, 7, 8, 5, 0)


def text_row(r: Row) -> str:
    return "  ".join(c.rjust(w) if w else c for c, w in zip(cells(r), WIDTHS))


def markdown(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---:|" * (len(COLUMNS) - 1) + "---|"]
    lines += ["| " + " | ".join(cells(r)) + " |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,5000", help="corpus sizes N (default 1000,5000)")
    parser.add_argument(
        "--settings",
        type=parse_settings,
        default=parse_settings(DEFAULT_SETTINGS),
        help=f"builds and ef_search values, M x ef_construction : ef_search+... (default {DEFAULT_SETTINGS})",
    )
    parser.add_argument("--dim", type=int, default=1536, help="vector dimension (default 1536)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"), help="output folder")
    args = parser.parse_args(argv)
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    args.out.mkdir(parents=True, exist_ok=True)
    command = shlex.join(
        [".venv/bin/python", "benchmarks/chroma_recall.py", *(argv if argv is not None else sys.argv[1:])]
    )

    print("  ".join(c.rjust(w) if w else c for c, w in zip(COLUMNS, WIDTHS)))
    rows: list[Row] = []
    for n in sizes:
        rows += measure(n, args.settings, args.dim, args.out / "chroma_recall", args.out / "cache")
    payload = {"command": command, "machine": bench_report.machine(), "rows": [asdict(r) for r in rows]}
    (args.out / "chroma_recall.json").write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    (args.out / "chroma_recall.md").write_text(f"Command: `{command}`\n\n{markdown(rows)}\n", encoding="utf-8")
    shutil.rmtree(args.out / "chroma_recall", ignore_errors=True)
    print(f"wrote {args.out}/chroma_recall.md and chroma_recall.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
