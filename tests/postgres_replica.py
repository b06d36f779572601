"""One replica of lesson 12's service, as its own process, for tests/test_postgres_replicas.py.

python tests/postgres_replica.py writer URL
    Reads one JSON command a line from stdin: {"texts": {doc_id: text}, "at": unix time, "kill": null | "add" |
    "hash"}; at that time runs the lesson's sync (its recipe cells) on those documents and prints one JSON line:
    pid, the version it returned, the texts and requests it paid. "kill": die by SIGKILL right after this
    process's first vector-store write ("add") or first document-hash write ("hash") commits.
python tests/postgres_replica.py reader URL FOLDER
    Until FOLDER/stop exists: loads the published index (counting embedding requests) and checks it with
    check_consistent against each document set in FOLDER/history.json (newest first). A load that matches none
    is a mix. Writes its running totals to FOLDER/reader-PID.json after every load.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from llama_index.core import Document  # noqa: E402
from llama_index.core.node_parser import SentenceSplitter  # noqa: E402
from notebook_recipes import recipes  # noqa: E402

import persistlab  # noqa: E402
from persistlab.grading.consistency import check_consistent  # noqa: E402

LESSON = HERE.parent / "lessons" / "12_several_replicas_one_database.ipynb"
SPLITTER = SentenceSplitter(chunk_size=64, chunk_overlap=0)
DIMENSIONS = 32


def documents(texts: dict[str, str]) -> list[Document]:
    return [Document(id_=doc_id, text=text) for doc_id, text in sorted(texts.items())]


def die_after_first(cls: type, method: str) -> None:
    original = getattr(cls, method)

    def then_die(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        result = original(self, *args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(cls, method, then_die)


def writer(url: str) -> None:
    ns = recipes(LESSON)
    embed_model = persistlab.embedding_model(dimensions=DIMENSIONS)
    print(json.dumps({"ready": os.getpid()}), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        if command.get("kill") == "add":
            die_after_first(ns["PGVectorStore"], "add")
        elif command.get("kill") == "hash":
            from llama_index.core.storage.docstore.keyval_docstore import KVDocumentStore

            die_after_first(KVDocumentStore, "set_document_hash")
        time.sleep(max(0.0, command["at"] - time.time()))
        with persistlab.metered() as paid:
            version = ns["sync"](
                url, documents(command["texts"]), embed_model, SPLITTER, lock=command.get("lock", True)
            )
        gc.collect()  # each sync makes new stores with their own connection pools: close them before the next
        print(
            json.dumps({"pid": os.getpid(), "version": version, "texts": paid.texts, "requests": paid.requests}),
            flush=True,
        )


def reader(url: str, folder: Path) -> None:
    ns = recipes(LESSON)
    embed_model = persistlab.embedding_model(dimensions=DIMENSIONS)
    totals = {"loads": 0, "mixes": 0, "retired": 0, "load_requests": 0, "versions": [], "mix_errors": []}
    out = folder / f"reader-{os.getpid()}.json"
    while not (folder / "stop").exists():
        history = [documents(texts) for texts in json.loads((folder / "history.json").read_text())]
        try:
            with persistlab.metered() as loading:
                version, index = ns["open_published_index"](url, embed_model, SPLITTER)
            errors = []
            for docs in reversed(history[-2:]):  # the published set, or the one being synced
                try:
                    check_consistent(index, docs, splitter=SPLITTER)
                    break
                except AssertionError as error:
                    errors.append(str(error)[:200])
            else:
                totals["mixes"] += 1
                totals["mix_errors"] = (totals["mix_errors"] + [f"{version}: {errors[0]}"])[:5]
        except Exception as error:  # noqa: BLE001 (a version dropped while loading: its schema is gone)
            if "does not exist" not in str(error):
                raise
            totals["retired"] += 1
            continue
        totals["loads"] += 1
        totals["cpu_s"] = round(time.process_time(), 1)
        if totals["loads"] % 5 == 0:
            del index
            gc.collect()  # each load makes new stores with their own connection pools: close the unused ones
        totals["load_requests"] += loading.requests
        if version not in totals["versions"]:
            totals["versions"].append(version)
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(totals))
        os.replace(tmp, out)


if __name__ == "__main__":
    persistlab.setup(quiet=True)
    if sys.argv[1] == "writer":
        writer(sys.argv[2])
    else:
        reader(sys.argv[2], Path(sys.argv[3]))
