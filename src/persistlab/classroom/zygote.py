"""The zygote: a process that imports the libraries once, then forks one grading kernel per request.

:mod:`.kernels` starts it (``python -m persistlab.classroom.zygote SOCKET``); each kernel's stand-in process
(:mod:`.kernel_proxy`) connects over a Unix socket and asks for its kernel. The zygote forks only while it has a
single thread, in an environment whose interpreter variables match the kernel's, and otherwise answers why not (the
kernel then starts the usual way). It keeps each connection open while its kernel runs: it writes the kernel's
exit code there when it has reaped it, and kills the kernel if the connection closes (its stand-in was killed). It
exits, with its kernels, when its stdin closes.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import Any

PRELOADED = (
    "ipykernel.kernelapp",
    "IPython.core.interactiveshell",
    "numpy",
    "httpx",
    "openai",
    "fsspec",
    "nbformat",
    "llama_index.core",
    "llama_index.embeddings.openai",
    "llama_index.llms.openai",
    "chromadb",
    "llama_index.vector_stores.chroma",  # exercise 06's store: seconds of imports, no thread started
    "openai.resources",  # imported by a client's first request
    "nltk",  # by the sentence splitter
    "ipywidgets",  # by the quizzes
    "persistlab.simulator.server_process",  # to fork each kernel's counting server before the kernel has threads
)
"""What a zygote imports before it forks: libraries, and of the course
only the served simulator. None of them starts a thread (checked before every fork all the same)."""


def interpreter_differences(env: dict[str, str], zygote_env: dict[str, str]) -> list[str]:
    """The variables read when the interpreter starts (``PYTHONHASHSEED``, ``PYTHONPATH``...) that ``env`` sets
    otherwise than the zygote's: a forked kernel has the zygote's, so it is forked only if there are none."""
    mine, zygotes = ({k: v for k, v in e.items() if k.startswith("PYTHON")} for e in (env, zygote_env))
    return sorted({name for name, _ in mine.items() ^ zygotes.items()})


def _child(request: dict[str, Any]) -> None:
    """In the forked child: become the kernel ``python -m ipykernel_launcher ARGS`` would start; never returns."""
    code = 1
    try:
        os.setsid()
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        sys.argv = [sys.argv[0], *request["args"]]
        sys.path[0] = request["cwd"]  # as `python -m` puts the working folder first
        # Forked while this process has one thread: the server a graded notebook's counting models use,
        # ready when its grading code is imported, without the 0.6 CPU s of starting a new interpreter.
        from persistlab.simulator import server_process

        try:
            server_process.prestart()
        except (OSError, RuntimeError) as err:
            print(f"persistlab: no counting server forked ({err}); grading code starts its own", file=sys.stderr)
        import logging

        from ipykernel.kernelapp import IPKernelApp

        # The kernel warns that it runs over TCP without encryption: it listens on loopback only, for a grader that
        # cannot change that, and the warning would reach the instructor's terminal (the zygote's stderr) per kernel.
        logging.getLogger(IPKernelApp.__name__).addFilter(
            lambda record: "without encryption" not in record.getMessage()
        )

        IPKernelApp.launch_instance(argv=request["args"])
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else 0
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(code)


SINGLE_THREADED = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
"""Set before the zygote imports numpy: its BLAS would otherwise start a thread pool, and a fork copies only the
calling thread."""


def thread_count(pid: int | None = None) -> int:
    """Threads of process ``pid`` (default: this one), native ones included, from Linux's /proc; elsewhere Python's
    own count for this process, and 1 for another (nothing to check)."""
    try:
        return len(os.listdir(f"/proc/{pid or 'self'}/task"))
    except OSError:
        return threading.active_count() if pid is None else 1


def fork_refusal(kernel_env: dict[str, str], zygote_env: dict[str, str]) -> str | None:
    """Why this process must not fork a kernel for ``kernel_env`` (it then starts the usual way), or None."""
    if differ := interpreter_differences(kernel_env, zygote_env):
        return f"the kernel's {', '.join(differ)} differ from the zygote's"
    if (threads := thread_count()) != 1:
        return f"the zygote runs {threads} threads; a fork would copy only one"
    return None


def serve(socket_path: str) -> None:
    """The zygote: import, listen on ``socket_path``, fork a kernel per request; exit when stdin closes."""
    kernels: dict[int, socket.socket | None] = {}
    try:
        _serve(socket_path, kernels)
    finally:  # however it ends: its kernels go with it, and so do its socket and the folder made for it
        for pid in kernels:
            _kill(pid)
        Path(socket_path).unlink(missing_ok=True)
        Path(socket_path + ".tmp").unlink(missing_ok=True)
        try:
            os.rmdir(os.path.dirname(socket_path))
        except OSError:
            pass


def _kill(kernel: int) -> None:
    try:
        os.killpg(kernel, signal.SIGKILL)
    except OSError:
        pass


def _send(conn: socket.socket, answer: dict[str, Any]) -> None:
    try:
        conn.sendall(json.dumps(answer).encode() + b"\n")
    except OSError:
        pass  # the kernel's stand-in is gone


def _read_request(conn: socket.socket) -> dict[str, Any] | None:
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(1 << 20)
        if not chunk:
            return None
        data += chunk
    return json.loads(data)


def _serve(socket_path: str, kernels: dict[int, socket.socket | None]) -> None:
    """``kernels``: each running kernel's connection to its stand-in (:mod:`.kernel_proxy`), None once closed."""
    import gc

    # ipykernel reads JPY_PARENT_PID when imported: every kernel is this process's child, so its parent poller
    # watches this process (and a kernel whose zygote is gone exits).
    os.environ["JPY_PARENT_PID"] = str(os.getpid())
    for name, value in SINGLE_THREADED.items():
        os.environ.setdefault(name, value)
    for name in PRELOADED:
        __import__(name)
    from persistlab.simulator.tokens import count_tokens

    count_tokens("warm up", "text-embedding-3-small")  # the embeddings tokenizer, for kernels and their servers
    gc.freeze()  # what is loaded now stays shared with every child instead of being copied by the collector
    started_with = dict(os.environ)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path + ".tmp")
    os.rename(socket_path + ".tmp", socket_path)  # the client waits for this name: it appears ready to accept
    listener.listen(16)
    while True:
        while kernels:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if not pid:
                break
            if conn := kernels.pop(pid, None):
                _send(conn, {"exit": os.waitstatus_to_exitcode(status)})
                conn.close()
        by_conn = {conn: pid for pid, conn in kernels.items() if conn is not None}
        ready, _, _ = select.select([listener, sys.stdin, *by_conn], [], [], 0.02)
        if sys.stdin in ready and not os.read(sys.stdin.fileno(), 1):
            break  # the grading process is gone
        for closed in set(by_conn).intersection(ready):  # a stand-in writes nothing after its request: it was killed
            _kill(by_conn[closed])  # and reaped above, on a later turn
            kernels[by_conn[closed]] = None
            closed.close()
        if listener not in ready:
            continue
        conn, _ = listener.accept()
        request = _read_request(conn)
        refusal = fork_refusal(request["env"], started_with) if request else "no request"
        if refusal or request is None:
            _send(conn, {"error": refusal})
            conn.close()
            continue
        pid = os.fork()
        if pid == 0:
            listener.close()
            for other in (conn, *kernels.values()):
                if other is not None:
                    other.close()  # only the zygote holds them: a stand-in sees the end when the zygote goes
            _child(request)
        kernels[pid] = conn
        _send(conn, {"pid": pid})


if __name__ == "__main__":
    serve(sys.argv[1])
