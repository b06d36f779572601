"""What each vector store adds to an environment that has only llama-index-core, in MB on disk.

    .venv/bin/python benchmarks/install_sizes.py [--work /tmp/persistlab-install-sizes] [--stores chroma,lancedb]

For each candidate a scratch virtual environment is made with the .venv's uv and given llama-index-core (the
version in requirements-lab.lock) plus the store's packages; versions shared with the course are held to
requirements-test.lock, and pyproject.toml's exclude-dependencies are left out, as the course installs them.
Prints the size of each environment's site-packages and what the store added. Needs PyPI (or uv's cache).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CANDIDATES = {
    "chroma": ["chromadb", "llama-index-vector-stores-chroma"],
    "faiss": ["faiss-cpu", "llama-index-vector-stores-faiss"],
    "lancedb": ["lancedb", "llama-index-vector-stores-lancedb"],
    "milvus": ["pymilvus", "milvus-lite", "llama-index-vector-stores-milvus"],
    "qdrant": ["qdrant-client", "llama-index-vector-stores-qdrant"],
    "s3fs": ["s3fs"],
}
"""The packages each candidate needs, as a learner would install them."""


def size_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and not f.is_symlink()) / 1e6


def excluded() -> list[str]:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["uv"].get("exclude-dependencies", [])


def install(venv: Path, packages: list[str], work: Path) -> float:
    """Make ``venv`` with llama-index-core and ``packages``; the size of its site-packages in MB."""
    uv = ROOT / ".venv" / "bin" / "uv"
    core = next(
        line.split()[0]
        for line in (ROOT / "requirements-lab.lock").read_text().splitlines()
        if line.startswith("llama-index-core==")
    )
    excludes = work / "excludes.txt"
    excludes.write_text("\n".join(excluded()) + "\n")
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, venv], check=True)
    subprocess.run(
        [
            uv,
            "pip",
            "install",
            "-q",
            "--link-mode=copy",
            "--python",
            venv / "bin" / "python",
            "-c",
            ROOT / "requirements-test.lock",
            "--excludes",
            excludes,
            core,
            *packages,
        ],
        check=True,
    )
    (site,) = venv.glob("lib/python3*/site-packages")
    return size_mb(site)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("/tmp/persistlab-install-sizes"))
    parser.add_argument("--stores", default=",".join(CANDIDATES), help=f"default {','.join(CANDIDATES)}")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.stores.split(",") if n.strip()]
    unknown = [n for n in names if n not in CANDIDATES]
    if unknown:
        parser.error(f"unknown store(s) {unknown}; choose from {','.join(CANDIDATES)}")
    args.work.mkdir(parents=True, exist_ok=True)
    base = install(args.work / "base", [], args.work)
    print(f"llama-index-core alone: {base:.0f} MB")
    print("| store | packages | MB added to llama-index-core |\n|---|---|---:|")
    for name in names:
        added = install(args.work / name, CANDIDATES[name], args.work) - base
        print(f"| {name} | {' '.join(CANDIDATES[name])} | {added:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
