"""Grading kernels forked from one process that has already imported the libraries.

nbgrader starts a fresh kernel for every notebook it grades, and each pays about 3 s of CPU importing
llama-index, openai and IPython before its first cell runs. The course's execute preprocessor
(:mod:`persistlab.classroom.preprocessors`) starts its kernels with :class:`ForkingKernelManager` instead:
its kernel spec names :class:`ForkedKernelProvisioner` (a jupyter_client kernel provisioner, registered
as an entry point), which asks a zygote to fork the kernel. The zygote is started once per grading
process (or once for all the nbgrader processes of one ``persistlab autograde``: :func:`shared_zygote`),
in the graded code's environment, imports the libraries and then forks one child per kernel;
the child starts ipykernel exactly as ``python -m ipykernel_launcher -f <connection file>`` would, in
the notebook's folder and environment. Interrupts and kills reach the child as signals; the zygote
reaps it and reports its exit code. A kernel command of another shape, or a zygote that cannot be
reached, or one whose ``PYTHON*`` variables differ from the zygote's, falls back to the ordinary start.
The tests' notebooks (nbval) fork their kernels too: :func:`fork_every_kernel`, called by conftest.py.

Each child is a copy of the zygote as it was after the imports: no submission sees another's state.
Before it becomes the kernel, each child also forks the served simulator its grading code counts calls
with (:func:`persistlab.simulator.server_process.prestart`): a process of its own, as the one that code would start.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner
from traitlets import default

PROVISIONER = "persistlab-forked"
"""The provisioner's entry-point name (``jupyter_client.kernel_provisioners`` in pyproject.toml)."""

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
    "openai.resources",  # imported by a client's first request
    "persistlab.simulator.server_process",  # to fork each kernel's counting server before the kernel has threads
)
"""What the zygote imports before it forks: libraries, and of the course only the served simulator."""

START_TIMEOUT_S = 120.0


def kernel_args(cmd: list[str]) -> list[str] | None:
    """The ipykernel arguments of ``cmd`` if it is this interpreter running ``-m ipykernel_launcher``, else None."""
    if len(cmd) < 3 or cmd[1:3] != ["-m", "ipykernel_launcher"]:
        return None
    try:
        same = os.path.samefile(cmd[0], sys.executable)
    except OSError:
        return None
    return cmd[3:] if same else None


FORK_KERNELS_ENV = "PERSISTLAB_FORK_KERNELS"
"""Set to ``0`` to start every grading kernel the usual way."""


def forking_enabled() -> bool:
    """Whether grading kernels are forked (:data:`FORK_KERNELS_ENV` is not ``0``)."""
    return os.environ.get(FORK_KERNELS_ENV, "1") != "0"


def fork_every_kernel() -> None:
    """Make the kernels this process starts with any jupyter_client kernel manager (nbval's, nbclient's) forked,
    unless their kernel spec names a provisioner or :data:`FORK_KERNELS_ENV` is ``0``. It sets the provisioner
    factory's ``default_provisioner_name`` in this process only: servers it starts keep the usual kernels."""
    from jupyter_client.provisioning import KernelProvisionerFactory

    if forking_enabled():
        KernelProvisionerFactory.instance().default_provisioner_name = PROVISIONER


def interpreter_differences(env: dict[str, str], zygote_env: dict[str, str]) -> list[str]:
    """The variables read when the interpreter starts (``PYTHONHASHSEED``, ``PYTHONPATH``...) that ``env`` sets
    otherwise than the zygote's: a forked kernel has the zygote's, so it is forked only if there are none."""
    mine, zygotes = ({k: v for k, v in e.items() if k.startswith("PYTHON")} for e in (env, zygote_env))
    return sorted({name for name, _ in mine.items() ^ zygotes.items()})


SOCKET_ENV = "PERSISTLAB_ZYGOTE_SOCKET"
"""Set by :func:`shared_zygote` for the grading processes it serves: their kernels fork from that zygote."""


class Zygote:
    """The client side of one zygote process: fork a kernel, ask for a child's exit code."""

    def __init__(self, socket_path: str, process: subprocess.Popen[bytes] | None = None) -> None:
        self.socket_path = socket_path
        self.process = process
        """None for a zygote another process started (:func:`shared_zygote`)."""
        self._lock = threading.Lock()

    @classmethod
    def start(cls, env: dict[str, str]) -> Zygote:
        """Start a zygote in ``env``, without waiting for its imports (:meth:`wait_until_listening`)."""
        folder = tempfile.mkdtemp(prefix="persistlab-zygote-")  # mode 0700: only this user connects
        socket_path = os.path.join(folder, "zygote.sock")
        process = subprocess.Popen(
            [sys.executable, "-m", "persistlab.classroom.kernels", socket_path],
            env=env,
            stdin=subprocess.PIPE,
        )  # its stdin closes when this process ends: the zygote then kills what it left running and exits
        return cls(socket_path, process)

    def gone(self) -> bool:
        """Whether the zygote this process started has exited (never known of a shared one)."""
        return self.process is not None and self.process.poll() is not None

    def wait_until_listening(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not os.path.exists(self.socket_path):
            if self.gone() or time.monotonic() > deadline:
                code = self.process.poll() if self.process is not None else None
                raise OSError(f"the kernel zygote at {self.socket_path} did not start (exit {code})")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop the zygote this process started (it kills the kernels it left running) and wait for it."""
        if self.process is None:
            return
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock, socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(START_TIMEOUT_S)
            conn.connect(self.socket_path)
            conn.sendall(json.dumps(request).encode() + b"\n")
            answer = b""
            while not answer.endswith(b"\n"):
                chunk = conn.recv(65536)
                if not chunk:
                    raise OSError("the kernel zygote closed the connection")
                answer += chunk
        return json.loads(answer)

    def fork(self, args: list[str], cwd: str, env: dict[str, str]) -> int:
        answer = self.ask({"op": "fork", "args": args, "cwd": cwd, "env": env})
        if "pid" not in answer:
            raise OSError(answer.get("error", "the kernel zygote did not fork"))
        return int(answer["pid"])

    def exit_code(self, pid: int) -> int | None:
        """None while the kernel runs, else its exit code (negative: killed by that signal)."""
        if self.gone():
            return -signal.SIGKILL  # the zygote is gone, and it killed its kernels when it went
        return self.ask({"op": "status", "pid": pid})["code"]


_zygote: Zygote | None = None
_zygote_lock = threading.Lock()


def zygote(env: dict[str, str]) -> Zygote:
    """This process's zygote: the shared one :data:`SOCKET_ENV` names, else one started on first use with
    ``env`` (the first kernel's environment)."""
    global _zygote
    with _zygote_lock:
        if _zygote is None and (shared := os.environ.get(SOCKET_ENV)):
            _zygote = Zygote(shared)
            try:
                _zygote.wait_until_listening()
            except OSError:
                _zygote = None  # one of this process's own, then
        if _zygote is None or _zygote.gone():
            _zygote = Zygote.start(env)
            atexit.register(_zygote.stop)  # waited for, so that its CPU time is counted with this process's
            _zygote.wait_until_listening()
        return _zygote


@contextmanager
def shared_zygote(env: dict[str, str]) -> Iterator[dict[str, str]]:
    """One zygote, started in ``env``, for the grading processes started inside the ``with`` block: yields the
    variable to add to their environment. Their kernels fork from it, instead of each process starting a
    zygote of its own (3 s of imports each). Yields ``{}`` if kernels are not forked (PERSISTLAB_FORK_KERNELS=0)."""
    if not forking_enabled():
        yield {}
        return
    started = Zygote.start(env)  # it imports while the grading processes start
    try:
        yield {SOCKET_ENV: started.socket_path}
    finally:
        started.stop()


class ForkedKernel:
    """What :class:`LocalProvisioner` expects of a ``Popen``, for a kernel the zygote forked."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int, parent: Zygote) -> None:
        self.pid = pid
        self._zygote = parent
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                self.returncode = self._zygote.exit_code(self.pid)
            except OSError:
                self.returncode = -signal.SIGKILL
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"kernel {self.pid}", timeout or 0)
            time.sleep(0.05)
        return code

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


class ForkedKernelProvisioner(LocalProvisioner):  # type: ignore[misc]
    """A local provisioner whose kernels are forked by the zygote (see the module's docstring)."""

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
        args = kernel_args(cmd)
        env = {k: v for k, v in (kwargs.get("env") or os.environ).items() if k != SOCKET_ENV}  # not the kernel's
        kwargs["env"] = env
        cwd = str(kwargs.get("cwd") or os.getcwd())
        if args is not None:
            try:
                parent = zygote(env)
                pid = parent.fork(args, cwd, env)
            except OSError as err:
                self.log.warning("Starting the kernel the usual way: %s", err)
            else:
                self.process = ForkedKernel(pid, parent)
                self.pid = self.pgid = pid  # the child leads a process group of its own
                self.cwd = cwd
                return self.connection_info
        return await super().launch_kernel(cmd, **kwargs)


class ForkingKernelSpecManager(KernelSpecManager):  # type: ignore[misc]
    """Kernel specs as installed, with :class:`ForkedKernelProvisioner` named as their provisioner."""

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        spec = super().get_kernel_spec(kernel_name)
        if "kernel_provisioner" not in spec.metadata:
            spec.metadata = {**spec.metadata, "kernel_provisioner": {"provisioner_name": PROVISIONER}}
        return spec


class ForkingKernelManager(AsyncKernelManager):  # type: ignore[misc]
    """nbclient's kernel manager, starting kernels through :class:`ForkedKernelProvisioner`."""

    @default("kernel_spec_manager")
    def _default_kernel_spec_manager(self) -> KernelSpecManager:
        return ForkingKernelSpecManager(data_dir=self.data_dir)


# --- the zygote process -------------------------------------------------------------------------------


def _child(request: dict[str, Any]) -> None:
    """In the forked child: become the kernel ``python -m ipykernel_launcher ARGS`` would start; never returns."""
    code = 1
    try:
        os.setsid()
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        os.environ["JPY_PARENT_PID"] = str(os.getppid())
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

        # ipykernel read JPY_PARENT_PID at import, in the zygote: give the parent here, so that its poller
        # watches the zygote and it prints no "`ipython kernel` entry point" note into the grader's output.
        IPKernelApp.launch_instance(argv=[*request["args"], f"--IPKernelApp.parent_handle={os.getppid()}"])
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


def serve(socket_path: str) -> None:
    """The zygote: import, listen on ``socket_path``, fork a kernel per request; exit when stdin closes."""
    import gc

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
    running: set[int] = set()
    exits: dict[int, int] = {}
    while True:
        while running:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if not pid:
                break
            running.discard(pid)
            exits[pid] = os.waitstatus_to_exitcode(status)
        ready, _, _ = select.select([listener, sys.stdin], [], [], 0.1)
        if sys.stdin in ready and not os.read(sys.stdin.fileno(), 1):
            break  # the grading process is gone
        if listener not in ready:
            continue
        conn, _ = listener.accept()
        with conn:
            data = b""
            while not data.endswith(b"\n"):
                chunk = conn.recv(1 << 20)
                if not chunk:
                    break
                data += chunk
            request = json.loads(data)
            if request["op"] == "fork" and (differ := interpreter_differences(request["env"], started_with)):
                answer: dict[str, Any] = {"error": f"the kernel's {', '.join(differ)} differ from the zygote's"}
            elif request["op"] == "fork":
                pid = os.fork()
                if pid == 0:
                    listener.close()
                    conn.close()
                    _child(request)
                running.add(pid)
                answer = {"pid": pid}
            else:
                answer = {"code": None if request["pid"] in running else exits.get(request["pid"], -signal.SIGKILL)}
            conn.sendall(json.dumps(answer).encode() + b"\n")
    for pid in running:
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
    Path(socket_path).unlink(missing_ok=True)
    os.rmdir(os.path.dirname(socket_path))  # the client's private folder, made for this socket alone


if __name__ == "__main__":
    serve(sys.argv[1])
