"""Grading kernels forked from one process that has already imported the libraries.

nbgrader starts a fresh kernel for every notebook it grades, and each pays about 3 s of CPU importing
llama-index, openai and IPython before its first cell runs. The course's execute preprocessor
(:mod:`persistlab.classroom.preprocessors`) starts its kernels with :class:`ForkingKernelManager` instead:
its kernel spec names :class:`ForkedKernelProvisioner`, a jupyter_client kernel provisioner (registered as an
entry point) that changes one thing, the kernel command: jupyter_client's LocalProvisioner then starts, signals
and waits for a small stand-in process (:mod:`.kernel_proxy`) that asks a zygote (:mod:`.zygote`) to fork the
kernel. The zygote is started once per grading process (or once for all the nbgrader processes of one
``persistlab autograde``: :func:`shared_zygote`), in the graded code's environment, imports the libraries and then
forks one child per kernel; the child starts ipykernel exactly as ``python -m ipykernel_launcher -f <connection
file>`` would, in the notebook's folder and environment. A kernel command of another shape falls back to the
ordinary start here; a zygote that cannot be reached, or refuses, makes the stand-in start the usual kernel.
The tests' notebooks (nbval) fork their kernels too: :func:`fork_every_kernel`, called by conftest.py.

Each child is a copy of the zygote as it was after the imports: no submission sees another's state.
Before it becomes the kernel, each child also forks the served simulator its grading code counts calls
with (:func:`persistlab.simulator.server_process.prestart`): a process of its own, as the one that code would start.
"""

from __future__ import annotations

import atexit
import os
import shutil
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
    """Whether grading kernels are forked: only when asked for (:data:`FORK_KERNELS_ENV` is ``1``). Neither
    jupyter_client nor ipykernel supports forked kernels upstream, so grading starts them the usual way unless
    an instructor (or the course's own tests) opts in."""
    return os.environ.get(FORK_KERNELS_ENV) == "1"


def fork_every_kernel() -> None:
    """Make the kernels this process starts with any jupyter_client kernel manager (nbval's, nbclient's) forked,
    unless their kernel spec names a provisioner or :data:`FORK_KERNELS_ENV` is ``0``. It sets the provisioner
    factory's ``default_provisioner_name`` in this process only: servers it starts keep the usual kernels."""
    from jupyter_client.provisioning import KernelProvisionerFactory

    if forking_enabled():
        KernelProvisionerFactory.instance().default_provisioner_name = PROVISIONER


SOCKET_ENV = "PERSISTLAB_ZYGOTE_SOCKET"
"""Set by :func:`shared_zygote` for the grading processes it serves: their kernels fork from that zygote."""


class Zygote:
    """One zygote process, as the process that started it (or uses it) sees it: where it listens."""

    def __init__(self, socket_path: str, process: subprocess.Popen[bytes] | None = None) -> None:
        self.socket_path = socket_path
        self.process = process
        """None for a zygote another process started (:func:`shared_zygote`)."""

    @classmethod
    def start(cls, env: dict[str, str]) -> Zygote:
        """Start a zygote in ``env``, without waiting for its imports (:meth:`wait_until_listening`)."""
        folder = tempfile.mkdtemp(prefix="persistlab-zygote-")  # mode 0700: only this user connects
        socket_path = os.path.join(folder, "zygote.sock")
        process = subprocess.Popen(
            [sys.executable, "-m", "persistlab.classroom.zygote", socket_path],
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


PROXY = Path(__file__).with_name("kernel_proxy.py")


_ipc: str | None = None


def _ipc_folder() -> str:
    """This process's folder for its kernels' sockets (short: a socket's path must fit in 107 bytes)."""
    global _ipc
    if _ipc is None:
        _ipc = tempfile.mkdtemp(prefix="plk-")
        atexit.register(shutil.rmtree, _ipc, ignore_errors=True)
    return _ipc


class ForkedKernelProvisioner(LocalProvisioner):
    """A local provisioner whose kernel command runs :mod:`.kernel_proxy`, which has the zygote fork the kernel."""

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        km = self.parent
        if km is not None and km.transport == "tcp" and not km.has_kernel and not self.ports_cached:
            # Unix sockets instead of loopback ports: a port chosen here can be taken by another process before
            # the kernel (forked a moment later) binds it. jupyter_client removes the socket files at shutdown.
            km.transport, km.ip = "ipc", os.path.join(_ipc_folder(), str(km.kernel_id or id(km))[:8])
        kwargs = await super().pre_launch(**kwargs)
        env = {k: v for k, v in kwargs["env"].items() if k != SOCKET_ENV}  # the zygote's address is not the kernel's
        kwargs["env"] = env
        args = kernel_args(kwargs["cmd"])
        if args is not None:
            try:
                parent = zygote(env)
            except OSError as err:
                self.log.warning("Starting the kernel the usual way: %s", err)
            else:
                kwargs["cmd"] = [sys.executable, "-I", "-S", str(PROXY), parent.socket_path, *args]
        return kwargs


class ForkingKernelSpecManager(KernelSpecManager):
    """Kernel specs as installed, with :class:`ForkedKernelProvisioner` named as their provisioner."""

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        spec = super().get_kernel_spec(kernel_name)
        if "kernel_provisioner" not in spec.metadata:
            spec.metadata = {**spec.metadata, "kernel_provisioner": {"provisioner_name": PROVISIONER}}
        return spec


class ForkingKernelManager(AsyncKernelManager):
    """nbclient's kernel manager, starting kernels through :class:`ForkedKernelProvisioner`."""

    @default("kernel_spec_manager")
    def _default_kernel_spec_manager(self) -> KernelSpecManager:
        return ForkingKernelSpecManager(data_dir=self.data_dir)
