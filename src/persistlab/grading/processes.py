"""Run a function a notebook defined in real processes, several at once, without forking the notebook's kernel.

Exercise 07's hidden tests start the learner's replica start-up as three processes against one database. A
kernel runs threads (ipykernel's), and a fork copies only the calling one, so the kernel is never forked. The
processes come from multiprocessing's *forkserver*: a new interpreter (fork and exec at once, as ``subprocess``
starts one) that imports the heavy libraries once (:data:`PRELOAD`, with BLAS held to one thread) and then forks
each child from itself while it runs a single thread; each child checks that before it runs anything. A function
defined in a notebook cannot be imported by name in another process, so it travels by value: ``cloudpickle``
pickles it together with the notebook functions, classes and constants it uses (modules by reference)::

    from persistlab.grading import processes

    outcomes = processes.run_at_once(replica, [(url, spec_a), (url, spec_b), (url, spec_c)])
    [o.value for o in outcomes]      # what each call returned; o.error if it raised, o.killed if it was killed

Every child unpickles its call, then waits at a barrier until all are ready, so the calls start together.

In a child, :func:`counted_model` rebuilds a counting embedding model from :meth:`CallCounter.spec
<persistlab.grading.counting.CallCounter.spec>`: its requests are counted by the parent's counting server under
that counter's label, out of the child's reach. :func:`kill_after_first` makes the child die by ``SIGKILL`` right
after a method's first call returns (a writer killed mid-sync, as an orchestrator kills a container).

Teaching plumbing for the graders, not a recipe: a service's replicas are separate programs, started by a
process manager, not forked from a notebook.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import cloudpickle  # type: ignore[import-untyped]  # no type hints shipped

from persistlab.classroom.zygote import SINGLE_THREADED, thread_count
from persistlab.grading.counting import CountedModelSpec
from persistlab.maintainers.notebooks import environment

PRELOAD = (
    "numpy",
    "httpx",
    "openai.resources",
    "nltk",
    "sqlalchemy",
    "psycopg2",
    "llama_index.core",
    "llama_index.embeddings.openai",
    "llama_index.vector_stores.postgres",
    "llama_index.storage.docstore.postgres",
    "llama_index.storage.index_store.postgres",
    "persistlab.grading",
    "persistlab.grading.forkserver_warmup",
)
"""What the forkserver imports once, before its first fork: none of them starts a thread."""

_context: Any = None
_context_lock = threading.Lock()


@dataclass
class Outcome:
    """What one process did: the value its call returned, or the error it raised, or how it ended."""

    pid: int | None
    exitcode: int | None
    value: Any = None
    error: str | None = None

    @property
    def killed(self) -> bool:
        """Ended by SIGKILL before it reported anything."""
        return self.exitcode == -signal.SIGKILL


def _forkserver() -> Any:
    """multiprocessing's forkserver context, its server started with :data:`PRELOAD` and one BLAS thread."""
    global _context
    with _context_lock:
        if _context is None:
            from multiprocessing import forkserver

            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(list(PRELOAD))
            with environment(SINGLE_THREADED):  # the forkserver inherits it when it starts, here: one BLAS thread
                forkserver.ensure_running()
            _context = context
        return _context


def prestart() -> None:
    """Start the forkserver now: its imports (seconds) then overlap whatever runs before the first :func:`run_at_once`."""
    _forkserver()


def _child(payload: bytes, conn: Connection) -> None:
    """In a child of the forkserver: unpickle the call, report ready, wait for the go, run it, report."""
    try:
        threads = thread_count(os.getppid())
        if threads != 1:
            raise RuntimeError(f"the forkserver ran {threads} threads when it forked this process")
        from persistlab.simulator.tokens import use_bundled_encodings

        use_bundled_encodings()  # offline: the splitter's tokenizer from the course's files
        function, args = cloudpickle.loads(payload)
    except BaseException as error:  # noqa: BLE001 (reported to the parent, which raises nothing for it)
        conn.send(("error", f"could not start: {type(error).__name__}: {error}"))
        return
    conn.send(("ready", os.getpid()))
    conn.recv()  # the go: every process is ready
    try:
        conn.send(("ok", function(*args)))
    except BaseException as error:  # noqa: BLE001
        conn.send(("error", f"{type(error).__name__}: {error}"))


def run_at_once(function: Callable[..., Any], calls: Sequence[Sequence[Any]], timeout: float = 120.0) -> list[Outcome]:
    """Run ``function(*args)`` for each ``args`` of ``calls`` in a process of its own, all starting together.

    Returns one :class:`Outcome` per call, in order. ``function`` and its arguments must be picklable by
    cloudpickle, and so must the value it returns (return a summary, not an index). A process still running
    after ``timeout`` seconds is killed and its outcome says so.
    """
    context = _forkserver()
    payloads = [cloudpickle.dumps((function, tuple(args))) for args in calls]
    started = []
    for payload in payloads:
        ours, theirs = context.Pipe()
        process = context.Process(target=_child, args=(payload, theirs), daemon=True)
        process.start()
        theirs.close()
        started.append((process, ours))
    deadline = time.monotonic() + timeout
    outcomes: list[Outcome | None] = [None] * len(started)
    for n, (process, conn) in enumerate(started):  # the barrier
        message = _receive(conn, deadline)
        if message is None or message[0] != "ready":
            outcomes[n] = Outcome(process.pid, None, error=message[1] if message else "did not start in time")
    for n, (_, conn) in enumerate(started):
        if outcomes[n] is None:
            conn.send("go")
    for n, (process, conn) in enumerate(started):
        if outcomes[n] is None:
            message = _receive(conn, deadline)
            if message is not None:
                outcomes[n] = Outcome(process.pid, None, *(message[1:] if message[0] == "ok" else (None, message[1])))
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join()
            outcomes[n] = Outcome(process.pid, process.exitcode, error=f"still running after {timeout:g} s: killed")
        conn.close()
        outcome = outcomes[n] or Outcome(process.pid, None, error=f"ended with exit code {process.exitcode}")
        outcome.exitcode = process.exitcode
        outcomes[n] = outcome
    return [o for o in outcomes if o is not None]


def _receive(conn: Connection, deadline: float) -> tuple[Any, ...] | None:
    try:
        if conn.poll(max(0.0, deadline - time.monotonic())):
            message: tuple[Any, ...] = conn.recv()
            return message
    except (EOFError, OSError):  # the process died
        pass
    return None


def counted_model(spec: CountedModelSpec) -> Any:
    """In a child process: an ``OpenAIEmbedding`` whose requests the parent's counter of ``spec`` counts."""
    import httpx
    from llama_index.embeddings.openai import OpenAIEmbedding

    from persistlab.models import SIMULATED_API_KEY

    return OpenAIEmbedding(
        model=spec.model,
        dimensions=spec.dimensions,
        api_key=SIMULATED_API_KEY,
        api_base=spec.api_base,
        max_retries=0,
        http_client=httpx.Client(timeout=60, verify=False),  # plain HTTP to loopback: no certificates to load
        async_http_client=httpx.AsyncClient(timeout=60, verify=False),
    )


def kill_after_first(cls: type, method: str) -> None:
    """In a child process: die by SIGKILL right after the first call of ``cls.method`` returns."""
    original = getattr(cls, method)

    def then_die(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(cls, method, then_die)
