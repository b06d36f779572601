"""A maintainers' check that the simulator still behaves like the real service: ``persistlab check-real-service``.

It runs lessons twice, on the offline simulator and on the target (the real API with the key in
``OPENAI_API_KEY``, or any OpenAI-compatible server), and compares what must agree:

- the usage meter's embedding requests, texts and tokens, per lesson;
- the exception classes each code cell raised or printed;
- the top-1 document retrieved for every question in ``data/questions.json``.

Spend is capped, and the cap is required. Each lesson is run on the simulator first; its meter says
what the lesson will cost online (same tokenizer, same prices), and a lesson that would take the
total past the cap is not started. Inside the target's kernels ``PERSISTLAB_SPEND_CAP_USD`` holds the
rest of the cap, and the meter refuses to send a request that would exceed it
(:class:`persistlab.learning.meter.SpendCapReached`). The spend is printed at the end.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from persistlab.config import (
    BACKEND_ENV,
    FAULTS_ENV,
    GUARD_ENV,
    LOCAL_SERVER_KEY,
    OPENAI,
    OPENAI_API_BASE_ENV,
    OPENAI_API_KEY_ENV,
    SIMULATOR,
    SPEND_CAP_ENV,
)

MARKER = "persistlab-usage:"
_EXCEPTION = re.compile(r"\b([A-Z][A-Za-z]*(?:Error|Exception|Reached))\b")
_REPORT_CELL = f"""
import json as _json, persistlab as _p
_u = _p.usage
print({MARKER!r} + _json.dumps({{"requests": _u.requests, "texts": _u.texts, "tokens": _u.tokens,
      "cost_usd": _u.cost_usd + _u.chat_cost_usd, "failed_requests": _u.failed_requests}}))
"""
_TOP1 = """
import json, persistlab
from llama_index.core import VectorStoreIndex
from persistlab.learning.corpus import load_documents, load_questions
persistlab.setup(quiet=True)
index = VectorStoreIndex.from_documents(load_documents())
retriever = index.as_retriever(similarity_top_k=1)
hits = [retriever.retrieve(q.question)[0].node.ref_doc_id for q in load_questions()]
u = persistlab.usage
print(json.dumps({"hits": hits, "requests": u.requests, "tokens": u.tokens, "cost_usd": u.cost_usd}))
"""


class CheckError(RuntimeError):
    """The check cannot start as asked (no cap, no key, ...)."""


@dataclass
class Run:
    """What one lesson (or the retrieval check) did on one backend."""

    name: str
    usage: dict[str, float] = field(default_factory=dict)
    exceptions: list[tuple[int, tuple[str, ...]]] = field(default_factory=list)
    hits: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def cost(self) -> float:
        return float(self.usage.get("cost_usd", 0.0))


def _notebook_env(target: dict[str, str | None]) -> dict[str, str | None]:
    from persistlab.maintainers.notebooks import NOTEBOOK_ENV

    env: dict[str, str | None] = {**NOTEBOOK_ENV, FAULTS_ENV: None, **target}
    return env


def run_lesson(path: Path, target: dict[str, str | None], timeout: int = 600) -> Run:
    """Run the notebook at ``path`` (outputs not saved) with ``target`` set in the environment."""
    import nbformat
    from nbclient import NotebookClient

    from persistlab.maintainers.notebooks import environment

    path = Path(path).resolve()
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(_REPORT_CELL))
    run = Run(path.stem)
    with environment(_notebook_env(target)):
        try:
            NotebookClient(
                nb,
                timeout=timeout,
                kernel_name="python3",
                allow_errors=True,
                resources={"metadata": {"path": str(path.parent)}},
            ).execute()
        except Exception as err:  # a kernel that died, a timeout: reported, compared as a failure
            run.error = f"{type(err).__name__}: {err}"
    for number, cell in enumerate(nb.cells[:-1]):
        if cell.cell_type != "code":
            continue
        names: list[str] = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                names.append(output["ename"])
            elif output.get("output_type") == "stream" and output.get("name") == "stdout":
                names += _EXCEPTION.findall(output.get("text", ""))
        if names:
            run.exceptions.append((number, tuple(names)))
    for output in nb.cells[-1].get("outputs", []):
        for line in output.get("text", "").splitlines():
            if line.startswith(MARKER):
                run.usage = json.loads(line[len(MARKER) :])
    if not run.usage and run.error is None:
        run.error = "the lesson's kernel did not report its usage"
    return run


def run_retrieval(target: dict[str, str | None], timeout: int = 600) -> Run:
    """Build an index of the corpus and retrieve the top-1 document of every known question."""
    env = {**os.environ}
    for key, value in _notebook_env(target).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    result = subprocess.run([sys.executable, "-c", _TOP1], capture_output=True, text=True, env=env, timeout=timeout)
    run = Run("questions.json top-1")
    if result.returncode != 0:
        run.error = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return run
    payload = json.loads(result.stdout.strip().splitlines()[-1])
    run.hits = payload.pop("hits")
    run.usage = payload
    return run


def compare(offline: Run, online: Run) -> list[str]:
    """What differs between two runs of the same lesson, in words (empty: they agree)."""
    problems = []
    if online.error:
        problems.append(f"on the target: {online.error}")
    if offline.error:
        problems.append(f"on the simulator: {offline.error}")
    for key in ("requests", "texts", "tokens"):
        if key in offline.usage and offline.usage.get(key) != online.usage.get(key):
            problems.append(f"{key}: simulator {offline.usage.get(key)}, target {online.usage.get(key)}")
    if offline.exceptions != online.exceptions:
        problems.append(f"exceptions: simulator {offline.exceptions}, target {online.exceptions}")
    if offline.hits != online.hits:
        differ = [i for i, (a, b) in enumerate(zip(offline.hits, online.hits)) if a != b]
        problems.append(
            f"top-1 differs for question(s) {differ or 'count'}: simulator {len(offline.hits)} hits, "
            f"target {len(online.hits)}"
        )
    return problems


def check(
    lessons: list[Path],
    max_usd: float | None,
    api_base: str | None = None,
    timeout: int = 600,
    out: Callable[[str], None] = print,
    questions: bool = True,
) -> int:
    """Run the comparison; 0 if everything agreed, 1 if something differed, 3 if the cap stopped it.

    ``questions=False`` skips the top-1 retrieval comparison (for quick runs of single lessons).
    """
    if max_usd is None or not max_usd > 0:
        raise CheckError("A spend cap is required: pass --max-usd, e.g. --max-usd 0.01 (one US cent).")
    if api_base is None and not os.environ.get(OPENAI_API_KEY_ENV):
        raise CheckError("The real API needs a key: export OPENAI_API_KEY=... (or pass --api-base URL of a server).")
    target: dict[str, str | None] = {BACKEND_ENV: OPENAI, GUARD_ENV: "0", OPENAI_API_BASE_ENV: api_base or None}
    if api_base is not None and not os.environ.get(OPENAI_API_KEY_ENV):
        target[OPENAI_API_KEY_ENV] = LOCAL_SERVER_KEY
    where = api_base or "the real OpenAI API"
    simulator: dict[str, str | None] = {BACKEND_ENV: SIMULATOR}
    spent, failed, stopped = 0.0, 0, False
    jobs: list[tuple[str, Callable[[dict[str, str | None]], Run]]] = [
        (Path(p).stem, functools.partial(run_lesson, Path(p), timeout=timeout)) for p in lessons
    ]
    if questions:
        jobs.append(("questions.json top-1", lambda env: run_retrieval(env, timeout)))
    for name, job in jobs:
        offline = job(simulator)
        if spent + offline.cost > max_usd:
            out(
                f"STOP {name}: it would cost about ${offline.cost:.6f}, and ${spent:.6f} of the ${max_usd:.6f} cap "
                "is spent. Raise --max-usd to run it."
            )
            stopped = True
            break
        online = job({**target, SPEND_CAP_ENV: f"{max_usd - spent:.9f}"})
        spent += online.cost
        problems = compare(offline, online)
        failed += bool(problems)
        out(
            f"{'ok  ' if not problems else 'DIFF'} {name}: {online.usage.get('requests', '?')} embedding requests, "
            f"{online.usage.get('tokens', '?')} tokens, ${online.cost:.6f}"
        )
        for problem in problems:
            out(f"     {problem}")
    out(f"spent ${spent:.6f} of the ${max_usd:.6f} cap against {where}")
    return 3 if stopped else 1 if failed else 0
