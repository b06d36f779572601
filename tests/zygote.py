"""Run notebooks' code cells in processes forked from one that has already imported the libraries.

Started by :mod:`forked_grading` as ``python tests/zygote.py JOBS``. It imports what every graded
notebook imports (about 4 s of CPU a kernel would pay again for each submission), then reads one JSON
request per line on stdin::

    {"id": "...", "cells": [[source, grade_id or null, points or null], ...], "workdir": "...", "timeout": 120}

and forks one child per request, at most JOBS at a time. A child runs the cells in order in a fresh
IPython shell in ``workdir`` (its output goes to ``workdir/output.log``), as a kernel would, and scores
each graded cell as nbgrader does: its points if it raised nothing, else 0. The zygote answers one
JSON line per request on stdout: ``{"id", "points": {grade_id: points}, "failures": {grade_id: "Error:
message"}, "cpu_s": [CPU seconds of each cell], "error": null or why the child gave no result}``.

Single-threaded on purpose: a fork copies only the calling thread, so nothing may hold a lock then.
Of the course only the served simulator is imported here (its grading code would start a counting server):
each child forks the counting server its grading code then takes (:func:`persistlab.simulator.server_process.prestart`),
as the children of :mod:`persistlab.classroom.kernels` do.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import sys
import time
from typing import Any

from persistlab.classroom.zygote import PRELOADED, SINGLE_THREADED


def warm_up() -> None:
    """Load what the first index build of every notebook, and each counting server, loads lazily: tiktoken's
    encoding (the one bundled with llama-index-core, as the course's set-up does) and the sentence
    splitter's tokenizers."""
    from llama_index.core.node_parser import SentenceSplitter

    from persistlab.simulator.tokens import count_tokens

    count_tokens("Warm up the tokenizer.", "text-embedding-3-small")
    SentenceSplitter(chunk_size=64, chunk_overlap=0).split_text("Warm up the splitter. It has two sentences.")


def child(request: dict[str, Any]) -> None:
    """In the forked process: run the cells, write ``results.json``; never returns. It exits without
    Python's clean-up (seconds for a large heap): the zygote kills its process group, servers included."""
    status = 1
    try:
        os.setsid()  # its own process group: the zygote kills what it leaves running
        workdir = request["workdir"]
        os.chdir(workdir)
        log = os.open(os.path.join(workdir, "output.log"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        from persistlab.simulator import server_process

        server_process.prestart()
        from IPython.core.interactiveshell import InteractiveShell

        shell = InteractiveShell.instance()
        points: dict[str, float] = {}
        failures: dict[str, str] = {}
        cpu: list[float] = []
        for source, grade_id, value in request["cells"]:
            start = time.process_time()
            result = shell.run_cell(source, store_history=True)
            cpu.append(round(time.process_time() - start, 3))
            sys.stdout.flush()
            if grade_id is not None and value is not None:
                points[grade_id] = float(value) if result.success else 0.0
                error = result.error_in_exec or result.error_before_exec
                if error is not None:
                    failures[grade_id] = f"{type(error).__name__}: {error}".splitlines()[0][:300]
        with open(os.path.join(workdir, "results.json"), "w", encoding="utf-8") as f:
            json.dump({"points": points, "failures": failures, "cpu_s": cpu}, f)
        status = 0
    finally:
        os._exit(status)


def stop_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def answer(request: dict[str, Any], error: str | None) -> None:
    out: dict[str, Any] = {"id": request["id"], "points": {}, "failures": {}, "error": error}
    path = os.path.join(request["workdir"], "results.json")
    if error is None:
        try:
            with open(path, encoding="utf-8") as f:
                out.update(json.load(f))
        except (OSError, ValueError) as err:
            out["error"] = f"no results ({err}); see {request['workdir']}/output.log"
    print(json.dumps(out), flush=True)


def main(jobs: int) -> None:
    for name, value in SINGLE_THREADED.items():  # before numpy: its BLAS would start a thread pool
        os.environ.setdefault(name, value)
    for name in PRELOADED:
        __import__(name)
    warm_up()
    gc.freeze()  # what is loaded now stays shared with every child instead of being copied by the collector
    pending = [json.loads(line) for line in sys.stdin if line.strip()]
    running: dict[int, tuple[dict[str, Any], float]] = {}
    while pending or running:
        while pending and len(running) < jobs:
            request = pending.pop(0)
            pid = os.fork()
            if pid == 0:
                child(request)
            running[pid] = (request, time.monotonic() + float(request.get("timeout", 120)))
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid:
            request, _ = running.pop(pid)
            stop_group(pid)
            answer(
                request, None if os.waitstatus_to_exitcode(status) == 0 else f"exit {os.waitstatus_to_exitcode(status)}"
            )
            continue
        now = time.monotonic()
        for pid, (request, deadline) in list(running.items()):
            if now > deadline:
                stop_group(pid)
                os.waitpid(pid, 0)
                running.pop(pid)
                answer(request, f"timed out after {request.get('timeout', 120)} s")
        time.sleep(0.02)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
