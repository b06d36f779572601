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
  parent process holds; no HTTP route reveals or resets them.

Faults (:mod:`persistlab.faults`) are applied by the server from its ``--faults`` spec (or the
``PERSISTLAB_FAULTS`` it inherits). A served ``timeout`` closes the connection without an answer
(``openai.APIConnectionError`` in the client) instead of making the client wait.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from persistlab import faults, simulator

LOOPBACK = "127.0.0.1"


class _Counts:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.values = {"embeddings": 0, "chat": 0, "other": 0, "failed": 0}

    def add(self, path: str, status: int | None) -> None:
        key = "embeddings" if path.endswith("/embeddings") else "chat" if path.endswith("/chat/completions") else "other"
        with self._lock:
            self.values[key] += 1
            self.values["failed"] += status is None or status >= 400

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.values)


def make_server(host: str = LOOPBACK, port: int = 0, seed: int = 0, fault_spec: str | None = None) -> ThreadingHTTPServer:
    """An HTTP server answering like the OpenAI API (not started); ``server.counts`` holds its counts."""
    plan = faults.parse(fault_spec) if fault_spec else None
    counts = _Counts()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # quiet: no access log on stderr
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            request = httpx.Request(self.command, f"http://{host}{self.path}", headers=dict(self.headers), content=body)
            path = request.url.path.rstrip("/")
            try:
                response = (plan.intercept(request) if plan else None) or simulator.handle(request, seed=seed)
            except httpx.TimeoutException:
                counts.add(path, None)
                self.close_connection = True
                return
            content = response.content
            counts.add(path, response.status_code)
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
    process: subprocess.Popen

    def counts(self) -> dict[str, int]:
        """Requests the server answered so far, by endpoint, and how many failed (asked over the pipe)."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("counts\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def env(self) -> dict[str, str]:
        """Environment variables that point the course's OpenAI classes at this server."""
        return {"PERSISTLAB_BACKEND": "openai", "OPENAI_API_BASE": self.base_url, "OPENAI_API_KEY": "sk-placeholder-for-local-server"}

    def stop(self) -> None:
        if self.process.poll() is None:
            if self.process.stdin is not None:
                self.process.stdin.close()  # the child stops at end of input
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextmanager
def served_simulator(seed: int = 0, fault_spec: str | None = None, timeout: float = 60) -> Iterator[ServedSimulator]:
    """Serve the simulator on a free loopback port in a child process for the ``with`` block."""
    cmd = [sys.executable, "-m", "persistlab.served", "--port", "0", "--seed", str(seed), "--control-stdin"]
    if fault_spec:
        cmd += ["--faults", fault_spec]
    env = {k: v for k, v in os.environ.items() if k != faults.FAULTS_ENV}  # only --faults applies
    process = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if not line.startswith("http://"):
            raise RuntimeError(f"The served simulator did not start (it printed {line!r}; exit code {process.poll()}).")
        server = ServedSimulator(line, process)
        yield server
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
    parser.add_argument("--seed", type=int, default=0, help="change every embedding vector (default 0: the in-process simulator's)")
    parser.add_argument("--faults", default=os.environ.get(faults.FAULTS_ENV),
                        help="faults to inject, e.g. 'rate_limit:on=2/5' (default: $PERSISTLAB_FAULTS)")


def run(args: argparse.Namespace) -> int:
    try:
        server = make_server(args.host, args.port, args.seed, args.faults)
    except ValueError as err:
        print(f"persistlab serve-simulator: {err}", file=sys.stderr)
        return 2
    from persistlab.tokens import count_tokens

    count_tokens("warm up", "text-embedding-3-small")  # load both tokenizers before the first request
    count_tokens("warm up", "gpt-4o-mini")
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
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    for command in sys.stdin:  # the parent's pipe: the only way to read the counts
        if command.strip() == "counts":
            print(json.dumps(server.counts.snapshot()), flush=True)  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
