"""Local servers for the lesson on production and scale, on loopback only, always cleaned up.

- :func:`s3_server` runs moto's S3-compatible server in a thread of this process, so persisting to
  "object storage" through ``fs=`` works offline. The credentials are fake constants: moto accepts any.
- :func:`chroma_server` runs ``chroma run`` (the command in the chromadb wheel) as a child process on a
  folder, the client-server way to share one vector database between processes and machines.

Both are context managers: they wait until the server answers (or raise after ``timeout`` seconds with
the reason) and stop it when the block ends, even on error. A server still running when Python exits is
stopped by an ``atexit`` hook, and on Linux a Chroma server is also told to stop if its parent dies.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"

FAKE_S3_KEY = "persistlab-fake-access-key"
FAKE_S3_SECRET = "persistlab-fake-secret-not-a-credential"
"""Placeholder credentials for the local moto server. Not secrets: moto accepts any value.
Against real S3 you would pass your own (or let boto3 find them) and drop ``endpoint_url``."""
S3_REGION = "eu-west-1"
"""Any region but us-east-1, where S3 (and moto) reject the LocationConstraint that s3fs sends on mkdir."""


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port on ``host`` that nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_accepts(port: int, host: str = LOOPBACK) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _wait_until(ready: Any, timeout: float, what: str, still_starting: Any = lambda: True) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if not still_starting():
            raise RuntimeError(f"{what} stopped while starting.")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not answer within {timeout:g} s.")
        time.sleep(0.1)


# --- S3 (moto) ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class S3Endpoint:
    """Where the local S3 server listens, and the fake credentials it accepts."""

    endpoint_url: str
    key: str = FAKE_S3_KEY
    secret: str = FAKE_S3_SECRET
    region: str = S3_REGION

    def filesystem(self) -> Any:
        """An ``s3fs.S3FileSystem`` for this endpoint; against real S3 only endpoint and credentials change."""
        import s3fs

        return s3fs.S3FileSystem(
            key=self.key,
            secret=self.secret,
            client_kwargs={"endpoint_url": self.endpoint_url, "region_name": self.region},
        )

    def make_bucket(self, name: str) -> None:
        """Create bucket ``name`` if it does not exist yet."""
        fs = self.filesystem()
        if not fs.exists(name):
            fs.mkdir(name)


@contextlib.contextmanager
def s3_server(host: str = LOOPBACK, timeout: float = 20.0) -> Iterator[S3Endpoint]:
    """Run an S3-compatible server (moto) on a free loopback port for the duration of the block."""
    from moto.server import ThreadedMotoServer

    if host not in (LOOPBACK, "localhost"):
        raise ValueError(f"s3_server listens on loopback only, not {host!r}.")
    server = ThreadedMotoServer(ip_address=host, port=0, verbose=False)
    requests_log = logging.getLogger("werkzeug")  # one line per request otherwise
    level = requests_log.level
    requests_log.setLevel(logging.ERROR)
    server.start()
    stopped = False

    def stop() -> None:
        nonlocal stopped
        if not stopped:
            stopped = True
            server.stop()  # werkzeug closes the listening socket when its loop ends: the port is free

    atexit.register(stop)  # for a block left open across notebook cells when the kernel exits
    try:
        port = server.get_host_and_port()[1]
        _wait_until(lambda: port_accepts(port, host), timeout, f"The S3 server on {host}:{port}")
        yield S3Endpoint(endpoint_url=f"http://{host}:{port}")
    finally:
        stop()
        atexit.unregister(stop)
        requests_log.setLevel(level)


# --- Chroma server ---------------------------------------------------------------------------------


CHROMA_CLI = "import sys, chromadb_rust_bindings; chromadb_rust_bindings.cli(['chroma', *sys.argv[1:]])"
"""What the ``chroma`` script of the chromadb wheel runs, without the ``import chromadb`` it does first: that
import costs 3-7 s of CPU (mostly jsonschema's format checkers), the server itself starts in 0.1 s."""


def chroma_command() -> list[str]:
    """The command that behaves as ``chroma`` (the one in the chromadb package); append its arguments."""
    from importlib.util import find_spec

    if find_spec("chromadb_rust_bindings") is None:
        raise FileNotFoundError(
            "Chroma's command-line interface (chromadb_rust_bindings) was not found in this Python. "
            "It comes with the chromadb package: install the course requirements (pip install chromadb)."
        )
    return [sys.executable, "-c", CHROMA_CLI]


def chroma_client(port: int, host: str = LOOPBACK) -> Any:
    """A ``chromadb.HttpClient`` for the Chroma server on ``host:port``, telemetry off.

    Raises ``ValueError: Could not connect to a Chroma server...`` if nothing answers there.
    """
    import chromadb

    from persistlab.stores import chroma_settings

    return chromadb.HttpClient(host=host, port=port, settings=chroma_settings())


def _parent_death_signal() -> Any:
    """A function for ``preexec_fn`` that makes the child get SIGTERM when its parent dies (Linux), or None.

    ctypes is loaded here, in the parent: the function itself runs between fork and exec, where importing
    anything could deadlock on a lock held by another thread. Linux sends the signal when the *thread* that
    started the child exits, so start servers from the main thread (as notebooks and tests do).
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def preexec() -> None:
        prctl(pr_set_pdeathsig, signal.SIGTERM)

    return preexec


@dataclass
class ChromaServer:
    """A running ``chroma run`` process serving ``path`` on ``host:port``."""

    path: Path
    host: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def client(self) -> Any:
        """A ``chromadb.HttpClient`` for this server, telemetry off."""
        return chroma_client(self.port, self.host)

    def heartbeat_ok(self) -> bool:
        import httpx

        try:
            # trust_env=False: a proxy configured in the environment must not see loopback traffic
            return httpx.get(f"{self.url}/api/v2/heartbeat", timeout=1.0, trust_env=False).status_code == 200
        except httpx.HTTPError:
            return False

    def log_tail(self, lines: int = 15) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds; idempotent."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        with contextlib.suppress(OSError):
            self.log_path.unlink()


@contextlib.contextmanager
def chroma_server(
    path: str | os.PathLike[str], port: int | None = None, timeout: float = 180.0
) -> Iterator[ChromaServer]:
    """Serve the Chroma database in folder ``path`` on a free loopback port for the duration of the block.

    Data written through the server lands in ``path``; start another server on the same folder later
    and it is still there. Telemetry is off (``ANONYMIZED_TELEMETRY=False``).
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    log_fd, log_name = tempfile.mkstemp(prefix="chroma-server-", suffix=".log")
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    with os.fdopen(log_fd, "wb") as log:
        process = subprocess.Popen(
            [*chroma_command(), "run", "--path", str(path), "--host", LOOPBACK, "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            preexec_fn=_parent_death_signal(),
        )
    server = ChromaServer(path, LOOPBACK, port, process, Path(log_name))
    atexit.register(server.stop)
    try:
        try:
            _wait_until(
                server.heartbeat_ok,
                timeout,
                f"The Chroma server on port {port}",
                still_starting=lambda: process.poll() is None,
            )
        except (RuntimeError, TimeoutError) as err:
            raise RuntimeError(f"{err} Its output:\n{server.log_tail()}") from None
        yield server
    finally:
        server.stop()
        atexit.unregister(server.stop)
