"""What one start-up costs as the corpus grows: lesson 11's ``start_index`` (before and after its redesign) and
lesson 07's ``sync_folder``, at 1,000 / 10,000 / 100,000 documents of one chunk each.

    .venv/bin/python benchmarks/scale.py [--sizes 1000,10000,100000] [--recipes old,new,lesson07]
                                         [--dimensions 1536] [--dimensions-over-50000 256] [--out DIR]

For each recipe and size the corpus is built once (not timed) in OUT/<recipe>-<n>/; then, each in a fresh process
(imports done first, not timed):

- restart: ``start_index`` / ``sync_folder`` with nothing changed;
- first query: open the live index as a reader and retrieve the top 5 for one question;
- edit: the same call with one document edited (one chunk to embed);
- written: the bytes the process passed to write calls during the call (``wchar`` of /proc/self/io), for the edit
  and for the restart (Chroma rewrites its HNSW id map, ``index_metadata.pickle``, whenever a process opens a
  collection, change or not);
- folder: the index folder's size after the edit.

``old`` is lesson 11's recipe as it was at commit ``OLD_COMMIT`` (a version folder copied per change), ``new`` the
lesson's recipe now (one Chroma collection, versions in chunk metadata), ``lesson07`` lesson 07's recipe (JSON stores:
its persist rewrites the whole store at every change). Vectors have ``--dimensions`` numbers, and
``--dimensions-over-50000`` at larger sizes (the simulator's ``dimensions=``), which the table says.
Prints a Markdown table; not a test. Measured once: ``old`` cannot restart at 100,000 documents (its
``get_nodes(node_ids=None)`` raises Chroma's ``too many SQL variables``), which stops the run there.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OLD_COMMIT = "a409b55"
NOTEBOOKS = {"new": "lessons/11_production_startup.ipynb", "lesson07": "lessons/07_sync_with_a_folder.ipynb"}
QUESTION = "How long is biltong dried in a cool room?"


def text(i: int, edited: bool = False) -> str:
    extra = " It was edited once, to add this sentence about brine." if edited else ""
    return f"Record {i}: jar {i % 97} on shelf {i % 13} holds item {i}, sealed in week {i % 52}.{extra}"


def notebook(recipe: str) -> Path:
    if recipe != "old":
        return ROOT / NOTEBOOKS[recipe]
    old = Path(tempfile.gettempdir()) / f"lesson11-{OLD_COMMIT}.ipynb"
    old.write_bytes(
        subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{OLD_COMMIT}:{NOTEBOOKS['new']}"], check=True, capture_output=True
        ).stdout
    )
    return old


def wchar() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    return 0


def child(recipe: str, nb: str, folder: str, n: int, dimensions: int, action: str) -> dict[str, float]:
    """One action on the index in ``folder``, in this (fresh) process."""
    sys.path.insert(0, str(ROOT / "tests"))
    from llama_index.core import Document
    from llama_index.core.node_parser import SentenceSplitter
    from notebook_recipes import recipes

    import persistlab

    persistlab.setup(quiet=True)
    ns = recipes(Path(nb))
    model = persistlab.embedding_model(dimensions=dimensions, embed_batch_size=2048)
    splitter = SentenceSplitter(chunk_size=512, chunk_overlap=0)
    docs = [Document(id_=f"doc{i:06d}.md", text=text(i, edited=(action == "edit" and i == 0))) for i in range(n)]
    if recipe == "lesson07":
        update = lambda: ns["sync_folder"](docs, Path(folder), splitter, model)  # noqa: E731
        reader = lambda: ns["open_index"](Path(folder), splitter, model).as_retriever(similarity_top_k=5)  # noqa: E731
    else:
        update = lambda: ns["start_index"](docs, Path(folder), model, splitter)  # noqa: E731

        def reader():  # type: ignore[no-untyped-def]
            opened = ns["open_live_index"](Path(folder), model, splitter)
            if isinstance(opened, tuple):  # the new recipe: the index and the live version's filters
                return opened[0].as_retriever(similarity_top_k=5, filters=opened[1])
            return opened.as_retriever(similarity_top_k=5)

    written, start = wchar(), time.perf_counter()
    with persistlab.metered() as paid:
        if action == "query":
            assert len(reader().retrieve(QUESTION)) == 5
        else:
            update()
    return {"seconds": time.perf_counter() - start, "written": wchar() - written, "texts": paid.texts}


def run_child(recipe: str, folder: Path, n: int, dimensions: int, action: str) -> dict[str, float]:
    args = [sys.executable, __file__, "--child", recipe, str(notebook(recipe)), str(folder), str(n), str(dimensions)]
    out = subprocess.run([*args, action], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def size_of(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def measure(recipe: str, n: int, dimensions: int, out: Path) -> dict[str, float]:
    folder = out / f"{recipe}-{n}-{dimensions}"
    built = out / f"{folder.name}.built"
    if not built.exists():  # build once, keep a pristine copy to reuse
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(built, ignore_errors=True)
        started = time.perf_counter()
        run_child(recipe, folder, n, dimensions, "build")
        print(f"  built {folder.name} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        shutil.copytree(folder, built)
    else:
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(built, folder)
    restart = run_child(recipe, folder, n, dimensions, "restart")
    assert restart["texts"] == 0, restart
    query = run_child(recipe, folder, n, dimensions, "query")
    edit = run_child(recipe, folder, n, dimensions, "edit")
    assert edit["texts"] == 1, edit
    return {
        "restart": restart["seconds"],
        "query": query["seconds"],
        "edit": edit["seconds"],
        "written": edit["written"],
        "restart_written": restart["written"],
        "folder": size_of(folder),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--recipes", default="old,new,lesson07")
    parser.add_argument("--dimensions", type=int, default=1536)
    parser.add_argument("--dimensions-over-50000", type=int, default=256)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "persistlab-scale")
    parser.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        recipe, nb, folder, n, dimensions, action = options.child
        print(json.dumps(child(recipe, nb, folder, int(n), int(dimensions), action)))
        return
    options.out.mkdir(parents=True, exist_ok=True)
    print(
        "| recipe | documents | vector | restart s | first query s | edit s | edit writes MB | restart writes MB |",
        end="",
    )
    print(" folder MB |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in (int(s) for s in options.sizes.split(",")):
        dimensions = options.dimensions if n <= 50_000 else options.dimensions_over_50000
        for recipe in options.recipes.split(","):
            row = measure(recipe, n, dimensions, options.out)
            print(
                f"| {recipe} | {n:,} | {dimensions} | {row['restart']:.2f} | {row['query']:.2f} | {row['edit']:.2f} "
                f"| {row['written'] / 1e6:.1f} | {row['restart_written'] / 1e6:.1f} | {row['folder'] / 1e6:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
