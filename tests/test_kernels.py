"""Grading kernels forked from a zygote (persistlab.classroom.kernels) behave as separately started kernels do:
their own folder, environment and state, interrupts, the exit code of a kernel that dies, and a kernel whose
process jupyter_client kills is gone. (The hostile submissions of tests/test_grading.py run through them too.)"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from persistlab.classroom import kernels, zygote
from persistlab.classroom.kernels import PROXY, ForkedKernelProvisioner, ForkingKernelManager, kernel_args


def test_only_this_interpreters_ipykernel_launcher_is_forked() -> None:
    assert kernel_args([sys.executable, "-m", "ipykernel_launcher", "-f", "k.json"]) == ["-f", "k.json"]
    assert kernel_args(["/usr/bin/env", "-m", "ipykernel_launcher", "-f", "k.json"]) is None
    assert kernel_args([sys.executable, "-m", "other_launcher", "-f", "k.json"]) is None
    assert kernel_args(["R", "--slave"]) is None


async def _run(km: ForkingKernelManager, code: str, timeout: float = 60) -> dict[str, str]:
    """Run ``code``; the text it printed and the error it raised (if any)."""
    kc = km.client()
    kc.start_channels()
    try:
        await kc.wait_for_ready(timeout=timeout)
        printed: list[str] = []
        reply = await kc.execute_interactive(
            code,
            timeout=timeout,
            output_hook=lambda msg: (
                printed.append(msg["content"].get("text", "")) if msg["msg_type"] == "stream" else None
            ),
        )
        return {"out": "".join(printed), "error": reply["content"].get("ename", "")}
    finally:
        kc.stop_channels()


def _gone_within(pid: int, seconds: float) -> bool:
    """Whether process ``pid`` has exited (or is a zombie waiting to be reaped) within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
                return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


def test_forked_kernels_have_their_own_folder_environment_and_state(tmp_path: Path) -> None:
    async def scenario() -> None:
        first, second = tmp_path / "a", tmp_path / "b"
        first.mkdir()
        second.mkdir()
        kms = []
        for folder, value in ((first, "one"), (second, "two")):
            km = ForkingKernelManager(kernel_name="python3")
            await km.start_kernel(cwd=str(folder), env={**os.environ, "PERSISTLAB_TEST_VALUE": value})
            assert isinstance(km.provisioner, ForkedKernelProvisioner) and started_through_proxy(km)
            assert km.transport == "ipc", "a forked kernel's loopback ports could be taken before it binds them"
            kms.append(km)
        try:
            out = await _run(
                kms[0],
                "import os, llama_index.core\nleft_behind = 1\n"
                "print(os.getcwd(), os.environ['PERSISTLAB_TEST_VALUE'], os.getppid())",
            )
            cwd, value, parent = out["out"].split()
            assert (cwd, value) == (str(first), "one")
            assert int(parent) == kernels.zygote({}).process.pid  # forked, not started the usual way
            # Its grading code counts with the server the child forked before it became the kernel.
            out = await _run(
                kms[0],
                "from persistlab.grading import counting\ncounting.server_root()\n"
                "process = counting._server.process\n"
                "print(type(process).__name__, open(f'/proc/{process.pid}/stat').read().split()[3])",
            )
            kind, server_parent = out["out"].split()
            assert (kind, server_parent) == ("ForkedServer", str(await kernel_pid(kms[0]))), out
            out = await _run(kms[1], "import os\nprint(os.getcwd(), os.environ['PERSISTLAB_TEST_VALUE'])\nleft_behind")
            assert out["out"].split() == [str(second), "two"] and out["error"] == "NameError"

            # An interrupt reaches the running cell; then a kernel that dies reports its exit code.
            kc = kms[1].client()
            kc.start_channels()
            kc.execute("import time\ntime.sleep(60)")
            await asyncio.sleep(1.0)
            await kms[1].interrupt_kernel()
            reply = await kc.get_shell_msg(timeout=30)
            kc.stop_channels()
            assert reply["content"]["ename"] == "KeyboardInterrupt"
            kc = kms[1].client()
            kc.start_channels()  # kept open until the kernel is gone: closing it could drop the request
            kc.execute("import os\nos._exit(3)")
            for _ in range(600):
                if not await kms[1].is_alive():
                    break
                await asyncio.sleep(0.1)
            kc.stop_channels()
            assert await kms[1].provisioner.poll() == 3
            first_pid = await kernel_pid(kms[0])
        finally:
            for km in kms:
                await km.shutdown_kernel(now=True)
        assert _gone_within(first_pid, 10.0), f"kernel {first_pid} still runs after shutdown_kernel"

    asyncio.run(scenario())


async def kernel_pid(km: ForkingKernelManager) -> int:
    """The kernel's own process (jupyter_client's is the stand-in that asked the zygote for it)."""
    return int((await _run(km, "import os\nprint(os.getpid())"))["out"])


def started_through_proxy(km: ForkingKernelManager) -> bool:
    return str(PROXY) in km.provisioner.process.args


def test_a_kernel_whose_process_is_killed_is_gone(tmp_path: Path) -> None:
    """jupyter_client kills the process it started (the stand-in); the zygote then kills the kernel itself."""

    async def scenario() -> None:
        km = ForkingKernelManager(kernel_name="python3")
        await km.start_kernel(cwd=str(tmp_path))
        pid = await kernel_pid(km)
        await km.shutdown_kernel(now=True)  # SIGKILL to the stand-in's process group: the kernel is not in it
        assert _gone_within(pid, 10.0), f"kernel {pid} still runs after its process was killed"

    asyncio.run(scenario())


def test_a_zygote_that_cannot_start_leaves_the_usual_start(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def broken(env: dict[str, str]) -> kernels.Zygote:
        raise OSError("the kernel zygote did not start (exit 1)")

    monkeypatch.setattr(kernels, "zygote", broken)

    async def scenario() -> None:
        km = ForkingKernelManager(kernel_name="python3")
        await km.start_kernel(cwd=str(tmp_path))
        try:
            assert not started_through_proxy(km)
            assert (await _run(km, "print(6 * 7)"))["out"].strip() == "42"
        finally:
            await km.shutdown_kernel(now=True)

    asyncio.run(scenario())


def test_kernels_fork_from_the_shared_zygote_whose_socket_they_cannot_see(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """What persistlab autograde gives its nbgrader processes: one zygote for all, named in their environment."""
    with kernels.shared_zygote(dict(os.environ)) as extra:
        [(name, socket_path)] = extra.items()
        monkeypatch.setenv(name, socket_path)
        monkeypatch.setattr(kernels, "_zygote", None)  # this process has started none yet

        async def scenario() -> None:
            km = ForkingKernelManager(kernel_name="python3")
            await km.start_kernel(cwd=str(tmp_path))
            try:
                out = await _run(km, f"import os\nprint(os.getppid(), {name!r} in os.environ)")
            finally:
                await km.shutdown_kernel(now=True)
            parent, seen = out["out"].split()
            assert socket_path.encode() in Path(f"/proc/{parent}/cmdline").read_bytes() and seen == "False", out

        asyncio.run(scenario())
        assert kernels.zygote({}).process is None  # not one of this process's own
    assert not Path(socket_path).exists()  # stopped with the block


def test_a_kernel_with_other_interpreter_settings_starts_the_usual_way(tmp_path: Path) -> None:
    """A forked kernel has the zygote's hash seed and sys.path: one whose PYTHON* variables differ is not forked."""

    async def scenario() -> None:
        km = ForkingKernelManager(kernel_name="python3")
        await km.start_kernel(cwd=str(tmp_path), env={**os.environ, "PYTHONHASHSEED": "12345"})
        try:
            assert started_through_proxy(km)  # asked, and refused: the stand-in became the usual kernel
            out = await _run(
                km, "import os, sys\nprint(os.environ['PYTHONHASHSEED'], sys.flags.hash_randomization, os.getppid())"
            )
            seed, randomized, parent = out["out"].split()
            assert (seed, randomized) == ("12345", "1"), out
            assert int(parent) != kernels.zygote({}).process.pid
        finally:
            await km.shutdown_kernel(now=True)

    asyncio.run(scenario())


def test_the_notebooks_kernels_are_forked_in_the_tests() -> None:
    """conftest.py makes every kernel manager of a test process fork (nbval's among them), not only nbgrader's."""
    from jupyter_client.manager import KernelManager

    km = KernelManager(kernel_name="python3")
    km.start_kernel()
    try:
        assert isinstance(km.provisioner, ForkedKernelProvisioner) and started_through_proxy(km)
        assert km.is_alive()
    finally:
        km.shutdown_kernel(now=True)


def test_forking_is_opt_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(kernels.FORK_KERNELS_ENV, raising=False)
    assert not kernels.forking_enabled()
    monkeypatch.setenv(kernels.FORK_KERNELS_ENV, "0")
    assert not kernels.forking_enabled()
    monkeypatch.setenv(kernels.FORK_KERNELS_ENV, "1")
    assert kernels.forking_enabled()


def test_a_zygote_with_a_second_thread_refuses_to_fork() -> None:
    """A fork copies only the calling thread: the zygote checks it has one before each fork (run in a process
    of its own, since pytest's may have threads of its own)."""
    script = (
        "import threading, time\n"
        "from persistlab.classroom.zygote import fork_refusal\n"
        "env = {'HOME': '/tmp'}\n"
        "print(fork_refusal(env, env))\n"
        "threading.Thread(target=time.sleep, args=(5,), daemon=True).start()\n"
        "print(fork_refusal(env, env))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")} | zygote.SINGLE_THREADED
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert done.stdout.splitlines() == ["None", "the zygote runs 2 threads; a fork would copy only one"], done.stderr
