"""Load time of a persisted index, store by store, measured side by side in one run.

    .venv/bin/python benchmarks/vector_stores.py [--sizes 1000,5000,20000] [--dim 1536] [--out benchmarks/results]

For each N: the default JSON store, FAISS (flat and with its id map), Chroma, LanceDB, Milvus Lite, Qdrant's
local mode, persistlab's NumpyVectorStore and the raw-numpy floor are built from the same vectors, persisted,
and loaded in fresh processes (see persistlab.stores.bench for what each column means). Stores whose packages
are not installed are skipped with a note (LanceDB, Milvus Lite and Qdrant are in the bench group only). Writes
results.csv, results.json, results.md and load_vs_n.png to --out; caches the simulated vectors in --out/cache
so they are computed once per N. The JSON store takes minutes at 20,000 vectors:
--json-max N skips it above N.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from persistlab import stores
from persistlab.stores import bench, bench_report


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--sizes must be comma-separated integers such as 1000,5000, got {text!r}"
        ) from None
    if not sizes or min(sizes) < bench.TOP_K:
        raise argparse.ArgumentTypeError(f"--sizes needs integers of at least {bench.TOP_K}, got {text!r}")
    return sizes


def _stores(text: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in names if s not in stores.BACKENDS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown store(s) {unknown or text!r}; choose from {','.join(stores.BACKENDS)}"
        )
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--sizes", type=_sizes, default=[1000, 5000, 20000], help="corpus sizes N (default 1000,5000,20000)"
    )
    parser.add_argument("--dim", type=int, default=1536, help="vector dimension (default 1536, text-embedding-3-small)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"), help="output folder")
    parser.add_argument(
        "--stores", type=_stores, default=list(stores.BACKENDS), help=f"default {','.join(stores.BACKENDS)}"
    )
    parser.add_argument("--repeats", type=int, default=3, help="fresh-process loads per store (median; default 3)")
    parser.add_argument("--json-max", type=int, default=None, help="skip the default JSON store above this N")
    parser.add_argument("--keep", action="store_true", help="keep the persisted stores under OUT/stores")
    args = parser.parse_args(argv)
    if not 1 <= args.dim <= 1536:
        parser.error(f"--dim must be between 1 and 1536 (text-embedding-3-small), got {args.dim}")

    missing = [s for s in args.stores if not stores.backend(s).installed()]
    if missing:
        print(
            f"note: skipping {', '.join(missing)}: not installed here (they are in the bench group: python3 course.py setup bench)"
        )
        args.stores = [s for s in args.stores if s not in missing]
    args.out.mkdir(parents=True, exist_ok=True)
    command = shlex.join(
        [".venv/bin/python", "benchmarks/vector_stores.py", *(argv if argv is not None else sys.argv[1:])]
    )
    results = []
    for result in bench.run(
        args.sizes,
        args.stores,
        args.out / "stores",
        args.dim,
        args.repeats,
        args.json_max,
        args.out / "cache",
        args.keep,
    ):
        results.append(result)
        bench.add_ratios(results)
        bench_report.write_json(results, args.out / "results.json", command)  # partial results survive a crash

    bench.add_ratios(results)
    table = bench_report.text_table(results)
    print(table)
    bench_report.write_csv(results, args.out / "results.csv")
    bench_report.write_json(results, args.out / "results.json", command)
    bench_report.plot(results, args.out / "load_vs_n.png")
    (args.out / "results.md").write_text(
        f"Command: `{command}`\n\n{bench_report.markdown_table(results)}\n", encoding="utf-8"
    )
    for n in dict.fromkeys(r.n for r in results):
        row = {r.store: r for r in results if r.n == n}
        parts = []
        for r in row.values():
            if r.store in ("json", "floor"):
                continue
            vs_json = f"{r.x_faster_than_json:.0f}x faster than JSON" if r.x_faster_than_json else "JSON not run"
            vs_floor = f"{r.x_floor:.1f}x the floor" if r.x_floor else "floor not run"
            parts.append(f"{r.store} {vs_json}, {vs_floor}")
        print(f"N={n:,}: " + "; ".join(parts))
    print(f"wrote {args.out}/results.csv, results.json, results.md, load_vs_n.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
