"""The served simulator as a child process: start it (or fork it from a single-threaded process), wait until it
serves, read its counts over the pipes only the parent holds, and stop it.

:func:`served_simulator` runs one for a ``with`` block; :func:`start` and :func:`wait_until_serving` do the same in
two steps (the counting models start one and go on); :func:`prestart` and :func:`take_prestarted` fork one before
a kernel starts threads. :mod:`.http_server` is what the child runs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO

from persistlab.config import BACKEND_ENV, LOCAL_SERVER_KEY, OPENAI, OPENAI_API_BASE_ENV, OPENAI_API_KEY_ENV
from persistlab.simulator import faults
from persistlab.simulator.http_server import COUNTING_SEED, LOOPBACK, base_url, make_server, serve_over_pipe


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
    cmd = [
        sys.executable,
        "-m",
        "persistlab.simulator.http_server",
        "--port",
        "0",
        "--seed",
        "secret" if seed is None else str(seed),
        "--control-stdin",
    ]
    if fault_spec:
        cmd += ["--faults", fault_spec]
    env = {k: v for k, v in os.environ.items() if k != faults.FAULTS_ENV}  # only --faults applies
    # A session of its own: a kernel that started it (a graded notebook's counting server) ends its shutdown by
    # waiting for every child of its process group to go, and this one, stopped but not yet reaped by the
    # kernel, would stay there as a zombie: each graded kernel then waited 2.5 s to be terminated.
    return subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, start_new_session=True
    )


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
    (:mod:`persistlab.classroom.kernels`), before it runs anything. It is fast only if that process has loaded
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
            from persistlab.simulator.tokens import count_tokens

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
def served_simulator(
    seed: int | None = 0, fault_spec: str | None = None, timeout: float = 60
) -> Iterator[ServedSimulator]:
    """Serve the simulator on a free loopback port in a child process for the ``with`` block.

    ``seed=None``: the child draws a secret seed, so no vector it serves can be computed elsewhere.
    """
    process = start(seed, fault_spec)
    try:
        yield wait_until_serving(process)
    finally:
        ServedSimulator("", process).stop()
