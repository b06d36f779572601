"""Measure vector stores side by side: build+persist, load-to-first-answer in a fresh process, and more.

Used by ``benchmarks/vector_stores.py`` (all sizes) and by lesson 08, vector stores (a small size). For
each corpus size N and each backend of :mod:`persistlab.stores`:

- **build+persist s**: index N nodes that already carry vectors, then write them to disk (parent process).
- **load→1st s**: in a *fresh* Python process, from the start of loading to the first top-5 result with
  text. The child imports its libraries first and times those separately (``import_s``), so library import
  cost is excluded from the load time but still reported.
- **warm query ms**: median of further top-5 queries in that child.
- **peak RSS MB**: the child's peak resident memory (``VmHWM`` on Linux), whole process, imports included.
- **disk MB**, and **recall@5**: the share of each query's exact top 5 (brute force) that the store returned,
  averaged over :data:`QUERIES` queries (HNSW stores are approximate).

Embedding cost is excluded: vectors come from :func:`persistlab.simulator.service.embed_vectors` (cached as
``.npy`` per N), and the embedding model handed to LlamaIndex refuses to embed anything.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from persistlab.atomic import write_atomically

EMBED_MODEL = "text-embedding-3-small"
TOP_K = 5
QUERIES = 100
"""Queries per fresh process: the first is timed with the load, the rest as warm queries; recall@5 is over all."""
QUERY_SEED = 1
"""Queries are synthetic texts from another seed than the corpus (seed 0)."""
SLOW_LOAD_S = 60.0
"""A load slower than this is not repeated: one run is enough to show it is slow."""
RESULT_MARKER = "PERSISTLAB-STOREBENCH "


def refusing_embed_model(dim: int) -> Any:
    """An embedding model that raises if LlamaIndex ever asks it to embed: proves no embedding happens."""
    from llama_index.core.embeddings import MockEmbedding

    class NoEmbedding(MockEmbedding):
        def _get_vector(self) -> list[float]:
            raise RuntimeError("The benchmark must not embed anything: nodes and queries come with vectors.")

    return NoEmbedding(embed_dim=dim)


# --- data -------------------------------------------------------------------------------------


def _cached_vectors(texts: list[str], dim: int, cache_dir: Path | None, label: str) -> np.ndarray:
    """Simulator vectors for ``texts``; with ``cache_dir``, computed once and kept as .npy."""
    from persistlab.simulator.service import embed_vectors

    dimensions = None if dim == 1536 else dim
    if cache_dir is None:
        return embed_vectors(texts, EMBED_MODEL, dimensions)
    # key on the texts and on the simulator itself (a probe vector), so a changed simulator recomputes
    probe = embed_vectors(["cache probe"], EMBED_MODEL, dimensions).tobytes()
    digest = hashlib.sha256("\x00".join(texts).encode() + probe).hexdigest()[:16]
    path = Path(cache_dir) / f"{label}-n{len(texts)}-d{dim}-{digest}.npy"
    if path.exists():
        return np.load(path)
    vectors = embed_vectors(texts, EMBED_MODEL, dimensions)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, lambda f: np.save(f, vectors))
    return vectors


def corpus_nodes(n: int, dim: int = 1536, cache_dir: Path | None = None) -> tuple[list[Any], np.ndarray]:
    """``n`` nodes from ``synthetic_corpus(n)``, one per document, with vectors set; and the vector matrix."""
    from llama_index.core.schema import NodeRelationship, TextNode

    from persistlab.learning.corpus import synthetic_corpus

    documents = synthetic_corpus(n)
    vectors = _cached_vectors([d.text for d in documents], dim, cache_dir, "corpus")
    nodes = [
        TextNode(
            id_=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{doc.id_}#0")),  # a UUID, as LlamaIndex makes (Qdrant wants one)
            text=doc.text,
            embedding=vectors[i].tolist(),
            relationships={NodeRelationship.SOURCE: doc.as_related_node_info()},
        )
        for i, doc in enumerate(documents)
    ]
    return nodes, vectors


def query_vectors(count: int, dim: int = 1536, cache_dir: Path | None = None) -> np.ndarray:
    """``count`` query vectors: synthetic texts from another seed, embedded like the corpus."""
    from persistlab.learning.corpus import iter_synthetic_texts

    return _cached_vectors(
        list(iter_synthetic_texts(count, seed=QUERY_SEED, words_per_doc=12)), dim, cache_dir, "queries"
    )


def disk_mb(path: Path) -> float:
    """Total size of the files under ``path`` in MB (10^6 bytes)."""
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file()) / 1e6


# --- one load in a fresh process ----------------------------------------------------------------


@dataclass
class LoadRun:
    """What one fresh process reported."""

    load_s: float
    import_s: float
    warm_ms: float
    peak_rss_mb: float
    import_rss_mb: float
    ids: list[list[str]]
    """The top-k node ids of every query, in order."""


def _rss_mb() -> float:
    """Peak resident memory of this process so far, in MB.

    Linux: ``VmHWM`` from /proc/self/status. Not ``ru_maxrss``: Linux carries that over from the parent
    through fork and exec, so a child started by a big parent would report the parent's size.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024 / 1e6
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1e6 if sys.platform == "darwin" else peak * 1024 / 1e6  # bytes on macOS, KiB elsewhere


def _child(store: str, persist_dir: str, queries_path: str, k: int) -> None:
    """Body of the fresh process: import, then time load + first query, then warm queries."""
    from persistlab.simulator.netguard import install_from_env

    install_from_env()
    t0 = time.perf_counter()
    import persistlab.stores as stores

    backend = stores.backend(store)
    backend.import_modules()
    queries = np.load(queries_path)
    embed_model = refusing_embed_model(queries.shape[1]) if backend.modules else None
    import_s = time.perf_counter() - t0
    import_rss = _rss_mb()

    start = time.perf_counter()
    searcher = backend.load(Path(persist_dir), embed_model)
    hits = searcher.top_k(queries[0], k)
    load_s = time.perf_counter() - start
    if not hits or not hits[0].text:
        raise RuntimeError(f"{store}: the first query returned no text: {hits!r}")

    warm, ids = [], [[h.node_id for h in hits]]
    for q in queries[1:]:
        t = time.perf_counter()
        more = searcher.top_k(q, k)
        warm.append((time.perf_counter() - t) * 1000)
        ids.append([h.node_id for h in more])
    searcher.close()
    run = LoadRun(load_s, import_s, statistics.median(warm) if warm else float("nan"), _rss_mb(), import_rss, ids)
    print(RESULT_MARKER + json.dumps(asdict(run)), flush=True)


def measure_load(
    store: str, persist_dir: Path, queries_path: Path, k: int = TOP_K, timeout: float | None = None
) -> LoadRun:
    """Load ``store`` from ``persist_dir`` in a fresh Python process and return what it measured."""
    command = [sys.executable, "-m", "persistlab.stores.bench", store, str(persist_dir), str(queries_path), str(k)]
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False", "TQDM_DISABLE": "1"}
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_MARKER):
            return LoadRun(**json.loads(line[len(RESULT_MARKER) :]))
    raise RuntimeError(
        f"Measuring {store} in {persist_dir} failed (exit {proc.returncode}).\n"
        f"stderr (last lines):\n{os.linesep.join(proc.stderr.splitlines()[-15:])}"
    )


# --- a whole benchmark ----------------------------------------------------------------------------


@dataclass
class Result:
    """One store at one corpus size. Times are medians over ``runs`` fresh processes."""

    n: int
    store: str
    description: str
    build_s: float
    disk_mb: float
    load_s: float
    warm_ms: float
    peak_rss_mb: float
    import_s: float
    recall: float
    runs: int
    load_runs: list[float] = field(default_factory=list)
    x_faster_than_json: float | None = None
    x_floor: float | None = None


def _median_run(runs: Sequence[LoadRun]) -> LoadRun:
    return sorted(runs, key=lambda r: r.load_s)[len(runs) // 2]


def measure(
    store: str,
    nodes: Sequence[Any],
    vectors: np.ndarray,
    queries: np.ndarray,
    work_dir: Path,
    repeats: int = 3,
    keep: bool = False,
) -> Result:
    """Build+persist ``store`` over ``nodes`` under ``work_dir`` and load it ``repeats`` times in fresh processes."""
    import persistlab.stores as stores

    backend = stores.backend(store)
    n = len(nodes)
    persist_dir = Path(work_dir) / f"n{n}" / store
    shutil.rmtree(persist_dir, ignore_errors=True)
    persist_dir.parent.mkdir(parents=True, exist_ok=True)
    queries_path = Path(work_dir) / f"queries-d{queries.shape[1]}.npy"
    np.save(queries_path, queries)

    start = time.perf_counter()
    backend.build(nodes, persist_dir, refusing_embed_model(vectors.shape[1]))
    build_s = time.perf_counter() - start
    size = disk_mb(persist_dir)

    runs = [measure_load(store, persist_dir, queries_path)]
    while len(runs) < repeats and runs[0].load_s < SLOW_LOAD_S:
        runs.append(measure_load(store, persist_dir, queries_path))
    run = _median_run(runs)

    recall = mean_recall(vectors, [n.node_id for n in nodes], queries, run.ids, TOP_K)
    if not keep:
        shutil.rmtree(persist_dir, ignore_errors=True)
    return Result(
        n=n,
        store=store,
        description=backend.description,
        build_s=build_s,
        disk_mb=size,
        load_s=run.load_s,
        warm_ms=run.warm_ms,
        peak_rss_mb=run.peak_rss_mb,
        import_s=run.import_s,
        recall=recall,
        runs=len(runs),
        load_runs=[r.load_s for r in runs],
    )


def mean_recall(
    vectors: np.ndarray, node_ids: Sequence[str], queries: np.ndarray, answers: Sequence[Sequence[str]], k: int = TOP_K
) -> float:
    """Mean over queries of the share of the exact top ``k`` (brute force) found in each answer."""
    from persistlab.stores import brute_force_ids

    found = [len({node_ids[i] for i in brute_force_ids(vectors, q, k)} & set(a)) / k for q, a in zip(queries, answers)]
    return statistics.fmean(found)


def add_ratios(results: Iterable[Result]) -> list[Result]:
    """Fill ``x_faster_than_json`` (JSON load / this load) and ``x_floor`` (this load / floor load) per N."""
    results = list(results)
    for r in results:
        same_n = {o.store: o for o in results if o.n == r.n}
        if "json" in same_n:
            r.x_faster_than_json = same_n["json"].load_s / r.load_s
        if "floor" in same_n:
            r.x_floor = r.load_s / same_n["floor"].load_s
    return results


def run(
    sizes: Sequence[int],
    store_names: Sequence[str],
    work_dir: Path,
    dim: int = 1536,
    repeats: int = 3,
    json_max: int | None = None,
    cache_dir: Path | None = None,
    keep: bool = False,
    note: Any = print,
) -> Iterator[Result]:
    """Measure every store at every size, yielding results as they come (with a progress bar).

    The JSON store is skipped above ``json_max`` documents (``note`` says so); vectors are cached in ``cache_dir``.
    """
    from persistlab.learning.progress import progress_bar

    plan = [(n, s) for n in sizes for s in store_names if not (s == "json" and json_max is not None and n > json_max)]
    for n in sizes:
        if "json" in store_names and json_max is not None and n > json_max:
            note(
                f"note: default JSON store skipped at N={n:,} (--json-max {json_max:,}); its ratios are missing there."
            )
    queries = query_vectors(QUERIES, dim, cache_dir)
    bar = progress_bar(total=len(plan), desc="stores", unit="store")
    try:
        current: tuple[int, Any] | None = None
        for n, store in plan:
            if current is None or current[0] != n:
                bar.set_postfix_str(f"N={n:,}: embedding (cached after the first run)")
                current = (n, corpus_nodes(n, dim, cache_dir))
            nodes, vectors = current[1]
            bar.set_postfix_str(f"N={n:,} {store}")
            try:
                yield measure(store, nodes, vectors, queries, work_dir, repeats, keep)
            except RuntimeError as err:  # one store failing to load must not lose the others' figures
                note(f"note: {store} at N={n:,} failed and is left out: {str(err).splitlines()[-1]}")
            bar.update(1)
    finally:
        bar.close()


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
