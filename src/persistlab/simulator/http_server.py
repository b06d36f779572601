"""The simulator served over loopback HTTP, in a separate process: the real network path, offline.

``persistlab serve-simulator`` prints the base URL and serves until interrupted; point the course at
it with ``PERSISTLAB_BACKEND=openai OPENAI_API_BASE=<url> OPENAI_API_KEY=<any placeholder>``. From
Python, :func:`.server_process.served_simulator` starts one for a ``with`` block::

    with served_simulator(seed=0) as server:
        ...  # OPENAI_API_BASE=server.base_url
        print(server.counts())   # {"embeddings": 3, "chat": 1, "failed": 0}

Built so that grading can later rely on it without trusting the code it grades:

- the server runs in its own process, so nothing in a notebook's process can patch it;
- ``seed`` changes every embedding vector (``service.embed_vectors(..., seed=)``), so vectors
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

Starting, forking and stopping the child is :mod:`.server_process`'s job; this module is what the child runs.

Faults (:mod:`persistlab.simulator.faults`) are applied by the server from its ``--faults`` spec (or the
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
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import IO

import httpx
import numpy as np

from persistlab.simulator import faults, service
from persistlab.simulator.endpoints import CHAT, EMBEDDINGS, kind_of

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
        matrix = service.embed_vectors(texts, model, dimensions, self.seed)
        if self.vectors_from is not None:
            other = service.embed_vectors(texts, self.vectors_from, None, self.seed)
            matrix = service.unit_rows(other[:, : matrix.shape[1]])
        if self.noise:
            rng = np.random.default_rng([self.noise_seed, len(self.calls) + 1])
            matrix = service.unit_rows(matrix + rng.normal(0.0, self.noise / np.sqrt(matrix.shape[1]), matrix.shape))
        return matrix


def _label_options(body: bytes, seed: int) -> _Label:
    """A label's options from its registration body; ``ValueError`` if they are not valid."""
    options = json.loads(body or b"{}")
    vectors_from, noise = options.get("vectors_from"), float(options.get("noise") or 0.0)
    if vectors_from is not None and vectors_from not in service.EMBEDDING_DIMENSIONS:
        raise ValueError(f"vectors_from={vectors_from!r} is not a model the simulator knows.")
    if not 0.0 <= noise <= 1.0:
        raise ValueError(f"noise={noise} is not between 0 and 1.")
    return _Label(seed, vectors_from, noise, int(options.get("noise_seed") or 0))


def make_server(
    host: str = LOOPBACK, port: int = 0, seed: int = 0, fault_spec: str | None = None
) -> ThreadingHTTPServer:
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
            response = service.handle(request, seed=seed, vectors=label.vectors)
            if kind_of(method, rest) == EMBEDDINGS and response.status_code < 400:
                sent = json.loads(request.content)
                texts = [sent["input"]] if isinstance(sent["input"], str) else list(sent["input"])
                label.calls.append((str(sent.get("model", "")), texts))
        return response

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = (
            True  # headers and body go out as two writes: else small answers wait ~40 ms for a delayed ACK
        )

        def log_message(self, format: str, *args: object) -> None:  # quiet: no access log on stderr
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            request = httpx.Request(self.command, f"http://{host}{self.path}", headers=dict(self.headers), content=body)
            path = request.url.path.rstrip("/")
            try:
                response = (plan.intercept(request) if plan else None) or (
                    counted(self.command, path, request) if COUNTED.match(path) else service.handle(request, seed=seed)
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
    server.counts = counts  # type: ignore[attr-defined]  # the server carries its own counts
    return server


def base_url(server: ThreadingHTTPServer) -> str:
    host, port = server.socket.getsockname()[:2]
    return f"http://{host}:{port}/v1"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="persistlab serve-simulator", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    parser.add_argument("--control-stdin", action="store_true", help=argparse.SUPPRESS)
    return run(parser.parse_args(argv))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=LOOPBACK, help="address to listen on (default 127.0.0.1, loopback only)")
    parser.add_argument("--port", type=int, default=0, help="port (default 0: a free one)")
    parser.add_argument(
        "--seed",
        type=_seed,
        default=0,
        help="change every embedding vector (default 0: the in-process simulator's; 'secret': a random one, never shown)",
    )
    parser.add_argument(
        "--faults",
        default=os.environ.get(faults.FAULTS_ENV),
        help="faults to inject, e.g. 'rate_limit:on=2/5' (default: $PERSISTLAB_FAULTS)",
    )


def _seed(value: str) -> int:
    return secrets.randbelow(2**31 - 1) + 1 if value == "secret" else int(value)


def run(args: argparse.Namespace) -> int:
    try:
        server = make_server(args.host, args.port, args.seed, args.faults)
    except ValueError as err:
        print(f"persistlab serve-simulator: {err}", file=sys.stderr)
        return 2
    from persistlab.simulator.tokens import count_tokens

    count_tokens("warm up", "text-embedding-3-small")  # load the embeddings tokenizer before the first request
    print(base_url(server), flush=True)
    if not getattr(args, "control_stdin", False):
        print(
            f"export PERSISTLAB_BACKEND=openai OPENAI_API_BASE={base_url(server)} OPENAI_API_KEY=sk-placeholder  "
            "# then start Jupyter; Ctrl-C stops the server",
            file=sys.stderr,
            flush=True,
        )
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
            print(json.dumps(server.counts.snapshot()), file=answers, flush=True)  # type: ignore[attr-defined]  # set above


if __name__ == "__main__":
    sys.exit(main())
