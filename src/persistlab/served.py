"""The simulator served over loopback HTTP, in a separate process: the real network path, offline.

``persistlab serve-simulator`` prints the base URL and serves until interrupted; point the course at
it with ``PERSISTLAB_BACKEND=openai OPENAI_API_BASE=<url> OPENAI_API_KEY=<any placeholder>``. From
Python, :func:`served_simulator` starts one for a ``with`` block::

    with served_simulator(seed=0) as server:
        ...  # OPENAI_API_BASE=server.base_url
        print(server.counts())   # {"embeddings": 3, "chat": 1, "failed": 0}

Built so that grading can later rely on it without trusting the code it grades:

- the server runs in its own process, so nothing in a notebook's process can patch it;
- ``seed`` changes every embedding vector (``simulator.embed_vectors(..., seed=)``), so vectors
  computed in the notebook's process with the in-process simulator do not match the served ones;
- the request counts are readable only through the child's stdin/stdout pipes, which only the
  parent process holds; no HTTP route reveals or resets them;
- ``seed=None`` lets the child draw a secret seed that no other process learns.

**Counted models** (what :mod:`persistlab.grading` counts with). A client registers a random label
(``POST /counted/<label>/register``, once) and sends its embeddings requests to
``/counted/<label>/v1``; ``GET /counted/<label>/calls`` lists the model and texts of each request
answered there, in order. Only a successful request is listed, and no route removes one, so code that
knows a label can add calls but never hide them. A label may answer with another model's vectors
(``vectors_from``) or add noise per request (``noise``, ``noise_seed``), both computed in this process.

A process with a single thread (a zygote's child) can fork its counting server instead of starting an
interpreter: :func:`prestart`, then :func:`take_prestarted`.

Faults (:mod:`persistlab.faults`) are applied by the server from its ``--faults`` spec (or the
``PERSISTLAB_FAULTS`` it inherits). A served ``timeout`` closes the connection without an answer
(``openai.APIConnectionError`` in the client) instead of making the client wait.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import IO

import httpx
import numpy as np

from persistlab import faults, simulator
from persistlab.config import BACKEND_ENV, LOCAL_SERVER_KEY, OPENAI, OPENAI_API_BASE_ENV, OPENAI_API_KEY_ENV
from persistlab.endpoints import CHAT, EMBEDDINGS, kind_of

LOOPBACK = "127.0.0.1"
COUNTING_SEED = 0
"""The seed of the servers :mod:`persistlab.grading` counts calls with: the in-process simulator's vectors."""
COUNTED = re.compile(r"^/counted/([A-Za-z0-9_-]{16,64})(/.*)?$")
"""Paths of counted models: ``/counted/<label>/...``."""


class _Counts:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.values = {"embeddings": 0, "chat": 0, "other": 0, "failed": 0}

    def add(self, method: str, path: str, status: int | None) -> None:
        kind = kind_of(method, path)
        key = "embeddings" if kind == EMBEDDINGS else "chat" if kind == CHAT else "other"
        with self._lock:
            self.values[key] += 1
            self.values["failed"] += status is None or status >= 400

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.values)


@dataclass
class _Label:
    """One counted model: how it answers, and every embeddings request it answered."""

    seed: int
    vectors_from: str | None = None
    noise: float = 0.0
    noise_seed: int = 0
    calls: list[tuple[str, list[str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def vectors(self, texts: list[str], model: str, dimensions: int | None) -> np.ndarray:
        matrix = simulator.embed_vectors(texts, model, dimensions, self.seed)
        if self.vectors_from is not None:
            other = simulator.embed_vectors(texts, self.vectors_from, None, self.seed)
            matrix = simulator.unit_rows(other[:, : matrix.shape[1]])
        if self.noise:
            rng = np.random.default_rng([self.noise_seed, len(self.calls) + 1])
            matrix = simulator.unit_rows(matrix + rng.normal(0.0, self.noise / np.sqrt(matrix.shape[1]), matrix.shape))
        return matrix


def _label_options(body: bytes, seed: int) -> _Label:
    """A label's options from its registration body; ``ValueError`` if they are not valid."""
    options = json.loads(body or b"{}")
    vectors_from, noise = options.get("vectors_from"), float(options.get("noise") or 0.0)
    if vectors_from is not None and vectors_from not in simulator.EMBEDDING_DIMENSIONS:
        raise ValueError(f"vectors_from={vectors_from!r} is not a model the simulator knows.")
    if not 0.0 <= noise <= 1.0:
        raise ValueError(f"noise={noise} is not between 0 and 1.")
    return _Label(seed, vectors_from, noise, int(options.get("noise_seed") or 0))


def make_server(host: str = LOOPBACK, port: int = 0, seed: int = 0, fault_spec: str | None = None) -> ThreadingHTTPServer:
    """An HTTP server answering like the OpenAI API (not started); ``server.counts`` holds its counts."""
    plan = faults.parse(fault_spec) if fault_spec else None
    counts = _Counts()
    labels: dict[str, _Label] = {}
    labels_lock = threading.Lock()

    def counted(method: str, path: str, request: httpx.Request) -> httpx.Response:
        """Answer a request to ``/counted/<label>/...`` (registration, its calls, or the API)."""
        match = COUNTED.match(path)
        assert match is not None
        name, rest = match.group(1), match.group(2) or ""
        if rest == "/register" and method == "POST":
            try:
                options = _label_options(request.content, seed)
            except (ValueError, TypeError) as err:
                return httpx.Response(400, json={"error": str(err)})
            with labels_lock:
                if name in labels:
                    return httpx.Response(409, json={"error": f"label {name} is already registered"})
                labels[name] = options
            return httpx.Response(200, json={})
        label = labels.get(name)
        if label is None:
            return httpx.Response(404, json={"error": f"no counted model {name}"})
        if rest == "/calls" and method == "GET":
            with label.lock:
                return httpx.Response(200, json={"calls": label.calls})
        with label.lock:  # one request at a time, so the noise of request n is the same in every run
            response = simulator.handle(request, seed=seed, vectors=label.vectors)
            if kind_of(method, rest) == EMBEDDINGS and response.status_code < 400:
                sent = json.loads(request.content)
                texts = [sent["input"]] if isinstance(sent["input"], str) else list(sent["input"])
                label.calls.append((str(sent.get("model", "")), texts))
        return response

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out as two writes: else small answers wait ~40 ms for a delayed ACK

        def log_message(self, format: str, *args: object) -> None:  # quiet: no access log on stderr
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            request = httpx.Request(self.command, f"http://{host}{self.path}", headers=dict(self.headers), content=body)
            path = request.url.path.rstrip("/")
            try:
                response = (plan.intercept(request) if plan else None) or (
                    counted(self.command, path, request) if COUNTED.match(path) else simulator.handle(request, seed=seed)
                )
            except httpx.TimeoutException:
                counts.add(self.command, path, None)
                self.close_connection = True
                return
            content = response.content
            counts.add(self.command, path, response.status_code)
            self.send_response(response.status_code)
            for name, value in response.headers.items():
                if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(name, value)
            self.send_header("content-length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)
            self.wfile.flush()

        do_POST = _serve
        do_GET = _serve

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    server.counts = counts  # type: ignore[attr-defined]
    return server


def base_url(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}/v1"


@dataclass
class ServedSimulator:
    """A simulator serving in a child process; only this object can read its request counts."""

    base_url: str
    process: subprocess.Popen | ForkedServer

    def counts(self) -> dict[str, int]:
        """Requests the server answered so far, by endpoint, and how many failed (asked over the pipe)."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("counts\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def env(self) -> dict[str, str]:
        """Environment variables that point the course's OpenAI classes at this server."""
        return {BACKEND_ENV: OPENAI, OPENAI_API_BASE_ENV: self.base_url, OPENAI_API_KEY_ENV: LOCAL_SERVER_KEY}

    def stop(self) -> None:
        if self.process.poll() is None:
            if self.process.stdin is not None:
                self.process.stdin.close()  # the child stops at end of input
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start(seed: int | None = 0, fault_spec: str | None = None) -> subprocess.Popen:
    """Start a served simulator in a child process (see :func:`served_simulator`); :func:`wait_until_serving` it."""
    cmd = [sys.executable, "-m", "persistlab.served", "--port", "0", "--seed", "secret" if seed is None else str(seed),
           "--control-stdin"]
    if fault_spec:
        cmd += ["--faults", fault_spec]
    env = {k: v for k, v in os.environ.items() if k != faults.FAULTS_ENV}  # only --faults applies
    # A session of its own: a kernel that started it (a graded notebook's counting server) ends its shutdown by
    # waiting for every child of its process group to go, and this one, stopped but not yet reaped by the
    # kernel, would stay there as a zombie: each graded kernel then waited 2.5 s to be terminated.
    return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)


class ForkedServer:
    """What :class:`ServedSimulator` uses of ``subprocess.Popen``, for a server :func:`prestart` forked."""

    def __init__(self, pid: int, stdin: IO[str], stdout: IO[str]) -> None:
        self.pid, self.stdin, self.stdout = pid, stdin, stdout
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere: gone all the same
                pid, status = self.pid, 0
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"served simulator {self.pid}", timeout or 0)
            time.sleep(0.01)
        return code

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


_prestarted: tuple[int, ServedSimulator] | None = None


def prestart(seed: int = COUNTING_SEED) -> None:
    """Fork a served simulator (no faults) for this process to take later (:func:`take_prestarted`): what
    :func:`start` gives, without the 0.6 CPU s a new interpreter spends importing and loading the tokenizer.

    Only for a process with a single thread, since a fork copies only the calling thread: a zygote's child
    (:mod:`persistlab.kernelfork`), before it runs anything. It is fast only if that process has loaded
    the embeddings tokenizer already (else the server loads it).
    """
    global _prestarted
    commands_r, commands_w = os.pipe()
    answers_r, answers_w = os.pipe()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.setsid()  # as start(): out of the process group of the kernel that holds it
            os.close(commands_w)
            os.close(answers_r)
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(null, 0)
            os.dup2(null, 1)
            os.environ.pop(faults.FAULTS_ENV, None)
            server = make_server(LOOPBACK, 0, seed, None)
            from persistlab.tokens import count_tokens

            count_tokens("warm up", "text-embedding-3-small")  # as run(); free if this process had loaded it
            with open(commands_r, encoding="utf-8") as commands, open(answers_w, "w", encoding="utf-8") as answers:
                print(base_url(server), file=answers, flush=True)
                serve_over_pipe(server, commands, answers)
            code = 0
        finally:
            os._exit(code)  # nothing to clean up: the socket closes with the process
    os.close(commands_r)
    os.close(answers_w)
    process = ForkedServer(pid, open(commands_w, "w", encoding="utf-8"), open(answers_r, encoding="utf-8"))
    _prestarted = (seed, wait_until_serving(process))


def take_prestarted(seed: int) -> ServedSimulator | None:
    """The server :func:`prestart` forked, once, if it serves ``seed`` and still runs; else None."""
    global _prestarted
    taken, _prestarted = _prestarted, None
    if taken is None:
        return None
    if taken[0] != seed or taken[1].process.poll() is not None:
        taken[1].stop()
        return None
    return taken[1]


def wait_until_serving(process: subprocess.Popen | ForkedServer) -> ServedSimulator:
    """The started server, once it prints its URL; ``RuntimeError`` if it does not start."""
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line.startswith("http://"):
        raise RuntimeError(f"The served simulator did not start (it printed {line!r}; exit code {process.poll()}).")
    return ServedSimulator(line, process)


@contextmanager
def served_simulator(seed: int | None = 0, fault_spec: str | None = None, timeout: float = 60) -> Iterator[ServedSimulator]:
    """Serve the simulator on a free loopback port in a child process for the ``with`` block.

    ``seed=None``: the child draws a secret seed, so no vector it serves can be computed elsewhere.
    """
    process = start(seed, fault_spec)
    try:
        yield wait_until_serving(process)
    finally:
        ServedSimulator("", process).stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="persistlab serve-simulator", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    parser.add_argument("--control-stdin", action="store_true", help=argparse.SUPPRESS)
    return run(parser.parse_args(argv))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=LOOPBACK, help="address to listen on (default 127.0.0.1, loopback only)")
    parser.add_argument("--port", type=int, default=0, help="port (default 0: a free one)")
    parser.add_argument("--seed", type=_seed, default=0,
                        help="change every embedding vector (default 0: the in-process simulator's; 'secret': a random one, never shown)")
    parser.add_argument("--faults", default=os.environ.get(faults.FAULTS_ENV),
                        help="faults to inject, e.g. 'rate_limit:on=2/5' (default: $PERSISTLAB_FAULTS)")


def _seed(value: str) -> int:
    return secrets.randbelow(2**31 - 1) + 1 if value == "secret" else int(value)


def run(args: argparse.Namespace) -> int:
    try:
        server = make_server(args.host, args.port, args.seed, args.faults)
    except ValueError as err:
        print(f"persistlab serve-simulator: {err}", file=sys.stderr)
        return 2
    from persistlab.tokens import count_tokens

    count_tokens("warm up", "text-embedding-3-small")  # load the embeddings tokenizer before the first request
    print(base_url(server), flush=True)
    if not getattr(args, "control_stdin", False):
        print(f"export PERSISTLAB_BACKEND=openai OPENAI_API_BASE={base_url(server)} OPENAI_API_KEY=sk-placeholder  "
              "# then start Jupyter; Ctrl-C stops the server", file=sys.stderr, flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        server.server_close()
        return 0
    # The parent stops this child by closing the pipe (it does when it exits, however it exits). Ctrl-C, when
    # started some other way than start(), signals the whole process group: the parent's to handle.
    serve_over_pipe(server, sys.stdin, sys.stdout)
    server.shutdown()
    server.server_close()
    return 0


def serve_over_pipe(server: ThreadingHTTPServer, commands: IO[str], answers: IO[str]) -> None:
    """Serve in a thread and answer ``counts`` commands until ``commands`` ends (the parent's pipes: the only
    way to read the counts)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Polled 20 times a second, so that the parent waits at most 0.05 s for it to stop (0.5 s by default).
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    for command in commands:
        if command.strip() == "counts":
            print(json.dumps(server.counts.snapshot()), file=answers, flush=True)  # type: ignore[attr-defined]


if __name__ == "__main__":
    sys.exit(main())
