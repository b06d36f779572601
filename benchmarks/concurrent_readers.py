"""Readers loading while a writer swaps in new versions: how many loads see one whole version?

    .venv/bin/python benchmarks/concurrent_readers.py [--loads 1000] [--pause 0.002] [--seconds 120]

Runs the lessons' own code (their cells tagged ``recipe``) in two processes. A writer process publishes
version after version as fast as it can, each a fresh index of a few documents whose metadata carries
its version number; the reader (this process) loads the live index again and again and judges each
load. Two ways of switching are raced:

- ``naive``: the writer calls ``persist_atomically(index, folder)`` (persist beside, two renames) and
  the reader calls ``load(folder)``, as lesson 05 teaches;
- ``pointer``: the writer calls ``publish_version(index, root)`` then ``retire_old_versions(root)``
  and the reader calls ``open_current(root)`` (lesson 10's versions behind a pointer file).

A load is **mixed** when its stores disagree: the node ids the index lists, the vector store's ids
and the docstore's nodes are not the same set, or their ``version`` tags are not all one value. It
**failed** when it raised (for example ``FileNotFoundError`` while the naive writer is between its
two renames). To make the race visible without thousands of loads, the reader pauses ``--pause``
seconds after each file it reads (a slow disk, a busy machine); the writer is not slowed.

tests/test_reader_safe.py runs the same race with fewer loads.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LESSONS = {
    "naive": ROOT / "lessons" / "05_crash_safe_persist.ipynb",
    "pointer": ROOT / "lessons" / "10_object_storage_and_versions.ipynb",
}
DIMENSIONS = 8  # short vectors: a load of a few nodes then costs milliseconds, so the race gets many loads
GRACE_S = 2.0  # the pointer writer's grace period: far longer than one load, even with pauses
DOCUMENTS = 3
METHODS = ("naive", "pointer")


def lesson_recipes(method: str = "naive") -> dict[str, Any]:
    """The recipe cells of the lesson that teaches method, run in a fresh namespace (tests/notebook_recipes.py)."""
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        from notebook_recipes import recipes
    finally:
        sys.path.remove(str(ROOT / "tests"))
    return recipes(LESSONS[method])


def use_small_embeddings() -> None:
    """Settings.embed_model: the course's offline text-embedding-3-small, cut to DIMENSIONS floats."""
    from llama_index.core import Settings

    import persistlab

    persistlab.setup(quiet=True)
    Settings.embed_model = persistlab.embedding_model("text-embedding-3-small", dimensions=DIMENSIONS)


def build_version(number: int) -> Any:
    """A fresh index of DOCUMENTS documents, each tagged ``version=number`` (new node ids every time)."""
    from llama_index.core import Document, VectorStoreIndex

    documents = [
        Document(
            id_=f"note-{i}.md", text=f"Version {number}, note {i}: salt, smoke and dry.", metadata={"version": number}
        )
        for i in range(DOCUMENTS)
    ]
    return VectorStoreIndex.from_documents(documents)


def location(method: str, workdir: Path) -> Path:
    return workdir / ("index" if method == "naive" else "published")


def writer(method: str, workdir: str, stop: Any, published: Any, max_versions: int, max_seconds: float) -> None:
    """Publish new versions until ``stop`` is set (or the bounds are reached); count them in ``published``."""
    use_small_embeddings()
    ns = lesson_recipes(method)
    target = location(method, Path(workdir))
    deadline = time.monotonic() + max_seconds
    for number in range(1, max_versions + 1):
        if stop.is_set() or time.monotonic() > deadline:
            break
        index = build_version(number)
        if method == "naive":
            ns["persist_atomically"](index, target)
        else:
            ns["publish_version"](index, target)
            ns["retire_old_versions"](target, grace_s=GRACE_S)
        published.value = number


def mixed_because(index: Any) -> str | None:
    """Why the loaded index mixes versions, or None when it is one whole version."""
    listed = set(index.index_struct.nodes_dict.values())
    vector_data = index.vector_store.to_dict()
    vectors = set(vector_data["embedding_dict"])
    nodes = index.docstore.docs
    if not (listed == vectors == set(nodes)):
        return (
            f"node ids differ: index {len(listed)}, vectors {len(vectors)}, docstore {len(nodes)}, "
            f"shared by all three {len(listed & vectors & set(nodes))}"
        )
    tags = {("docstore", node.metadata.get("version")) for node in nodes.values()}
    tags |= {("vectors", meta.get("version")) for meta in vector_data["metadata_dict"].values()}
    if len({tag for _, tag in tags}) != 1:
        return f"version tags differ: {sorted(tags, key=str)}"
    return None


@contextlib.contextmanager
def pause_after_each_file(seconds: float) -> Iterator[None]:
    """Make this process sleep after every store file it reads (docstore, index store, each vector store)."""
    from llama_index.core.storage.kvstore.simple_kvstore import SimpleKVStore
    from llama_index.core.vector_stores.simple import SimpleVectorStore

    originals = {cls: cls.__dict__["from_persist_path"] for cls in (SimpleKVStore, SimpleVectorStore)}

    def slowed(original: classmethod) -> classmethod:
        def read(cls: type, *args: Any, **kwargs: Any) -> Any:
            result = original.__func__(cls, *args, **kwargs)
            time.sleep(seconds)
            return result

        return classmethod(read)

    for cls, original in originals.items():
        cls.from_persist_path = slowed(original)
    try:
        yield
    finally:
        for cls, original in originals.items():
            cls.from_persist_path = original


@dataclass
class Figures:
    method: str
    loads: int = 0
    whole: int = 0
    mixed: int = 0
    failed: int = 0
    versions_published: int = 0
    versions_seen: set[int] = field(default_factory=set)
    seconds: float = 0.0
    examples: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"{self.method:7}  loads {self.loads:5}  whole {self.whole:5}  mixed {self.mixed:5}  "
            f"failed {self.failed:4}  versions published {self.versions_published:5}  "
            f"distinct versions loaded {len(self.versions_seen):5}  {self.seconds:5.1f} s"
        )


def race(
    method: str, loads: int, pause_s: float, max_seconds: float, workdir: Path, stop_after_mixed: int | None = None
) -> Figures:
    """Race one writer process against loads in this process.

    Stops at ``loads`` loads, after ``max_seconds``, or (if given) once ``stop_after_mixed`` loads were mixed.
    """
    if method not in METHODS:
        raise ValueError(f"method={method!r}: use one of {', '.join(METHODS)}")
    use_small_embeddings()
    ns = lesson_recipes(method)
    target = location(method, workdir)
    first = build_version(0)  # there is a live version before the race starts
    if method == "naive":
        ns["persist_atomically"](first, target)
        opener = ns["load"]
    else:
        ns["publish_version"](first, target)
        opener = ns["open_current"]

    def read() -> Any:
        return opener(target)

    context = multiprocessing.get_context("fork")  # the child starts with the libraries already imported
    stop, published = context.Event(), context.Value("i", 0)
    process = context.Process(target=writer, args=(method, str(workdir), stop, published, 100_000, max_seconds))
    figures = Figures(method)
    start = time.monotonic()
    process.start()
    try:
        while published.value == 0 and process.is_alive() and time.monotonic() - start < max_seconds:
            time.sleep(0.01)  # the writer has switched at least once
        with pause_after_each_file(pause_s):
            while (
                figures.loads < loads
                and time.monotonic() - start < max_seconds
                and process.is_alive()
                and (stop_after_mixed is None or figures.mixed < stop_after_mixed)
            ):
                figures.loads += 1
                try:
                    index = read()
                except Exception as error:  # judged, not hidden: counted and the first few kept
                    figures.failed += 1
                    if len(figures.examples) < 3:
                        figures.examples.append(f"failed: {type(error).__name__}: {error}")
                    continue
                reason = mixed_because(index)
                if reason is None:
                    figures.whole += 1
                    figures.versions_seen |= {node.metadata["version"] for node in index.docstore.docs.values()}
                else:
                    figures.mixed += 1
                    if len(figures.examples) < 3:
                        figures.examples.append(f"mixed: {reason}")
    finally:
        stop.set()
        process.join(timeout=30)
        if process.is_alive():
            process.kill()
            process.join()
    figures.versions_published = published.value
    figures.seconds = time.monotonic() - start
    if process.exitcode not in (0, None) and figures.versions_published == 0:
        raise RuntimeError(f"the {method} writer process failed (exit code {process.exitcode}) before publishing")
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loads", type=int, default=1000, help="loads per method (default 1000)")
    parser.add_argument("--pause", type=float, default=0.002, help="seconds the reader sleeps after each file")
    parser.add_argument("--seconds", type=float, default=120.0, help="time limit per method")
    parser.add_argument("--methods", default=",".join(METHODS))
    args = parser.parse_args(argv)
    print(
        f"lessons: {', '.join(str(path.relative_to(ROOT)) for path in LESSONS.values())}; {DOCUMENTS} documents of {DIMENSIONS}-float vectors per version; "
        f"reader pause after each file: {args.pause * 1000:g} ms"
    )
    for method in args.methods.split(","):
        with tempfile.TemporaryDirectory(prefix=f"readers-{method}-") as tmp:
            figures = race(method, args.loads, args.pause, args.seconds, Path(tmp))
        print(figures.line())
        for example in figures.examples:
            print("   e.g.", example[:160])
    return 0


if __name__ == "__main__":
    sys.exit(main())
