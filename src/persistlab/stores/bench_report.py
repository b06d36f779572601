"""The store benchmark's results as tables (Markdown, plain text, CSV), JSON with the machine it ran on,
and a plot of load time against size. Rows are :class:`persistlab.stores.bench.Result` s."""

from __future__ import annotations

import csv
import json
import os
import platform
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

Result = Any  # persistlab.stores.bench.Result (not imported: storebench imports this module)

COLUMNS = (
    "N",
    "store",
    "build+persist s",
    "disk MB",
    "load→1st s",
    "warm query ms",
    "peak RSS MB",
    "recall@5",
    "x faster than JSON",
    "x floor",
)


def _fmt(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}" if value < 10 else f"{value:.1f}"


def rows(results: Iterable[Result]) -> list[tuple[str, ...]]:
    """Table rows as strings, in :data:`COLUMNS` order."""
    return [
        (
            f"{r.n:,}",
            r.store,
            _fmt(r.build_s),
            _fmt(r.disk_mb, 1),
            _fmt(r.load_s, 3),
            _fmt(r.warm_ms, 1),
            _fmt(r.peak_rss_mb, 0),
            f"{r.recall:.2f}",
            _fmt(r.x_faster_than_json, 1),
            _fmt(r.x_floor, 1),
        )
        for r in results
    ]


def markdown_table(results: Iterable[Result]) -> str:
    """The results as a Markdown table."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row) + " |" for row in rows(results)]
    return "\n".join(lines)


def text_table(results: Iterable[Result]) -> str:
    """The results as aligned plain text."""
    table = [COLUMNS, *rows(results)]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(c.rjust(w) if i != 1 else c.ljust(w) for i, (c, w) in enumerate(zip(line, widths))).rstrip()
        for line in table
    )


def write_csv(results: Iterable[Result], path: Path) -> None:
    results = list(results)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(asdict(results[0])))
        writer.writeheader()
        for r in results:
            writer.writerow({**asdict(r), "load_runs": " ".join(f"{x:.4f}" for x in r.load_runs)})


def machine() -> dict[str, Any]:
    """Where the numbers were measured."""
    from importlib.metadata import PackageNotFoundError, version

    versions: dict[str, str | None] = {}
    for package in (
        "llama-index-core",
        "numpy",
        "faiss-cpu",
        "llama-index-vector-stores-faiss",
        "chromadb",
        "llama-index-vector-stores-chroma",
        "lancedb",
        "llama-index-vector-stores-lancedb",
        "milvus-lite",
        "pymilvus",
        "llama-index-vector-stores-milvus",
        "qdrant-client",
        "llama-index-vector-stores-qdrant",
    ):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "versions": versions,
    }


def write_json(results: Iterable[Result], path: Path, command: str) -> None:
    payload = {"command": command, "machine": machine(), "results": [asdict(r) for r in results]}
    Path(path).write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")


def plot(
    results: Iterable[Result], path: Path | None = None, title: str = "Load to first answer in a fresh process"
) -> Any:
    """Load time against N, both axes logarithmic, one line per store. Saves a PNG if ``path`` is given."""
    import matplotlib

    if path is not None:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = list(results)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for store in dict.fromkeys(r.store for r in results):
        points = sorted((r.n, r.load_s) for r in results if r.store == store)
        label = next(r.description for r in results if r.store == store)
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("vectors (N)")
    ax.set_ylabel("load → first top-5 answer (s)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
        plt.close(fig)
    return fig
