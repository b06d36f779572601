"""The process jupyter_client starts for a forked grading kernel: a stand-in that asks the zygote for the kernel.

:class:`persistlab.classroom.kernels.ForkedKernelProvisioner` replaces the kernel command with
``python -I -S kernel_proxy.py SOCKET ARGS``, so jupyter_client's own LocalProvisioner starts, signals, kills and
waits for a real process as it always does. This script asks the zygote listening on SOCKET to fork the kernel
``python -m ipykernel_launcher ARGS`` would start, in this process's folder and environment, passes on every signal
it gets (an interrupt, a terminate), and exits with the kernel's exit code. Killed itself, it closes its connection
and the zygote kills the kernel. If the zygote cannot fork (it refuses, or is gone), it becomes the usual kernel.

It imports nothing but the standard library and is run as a file with ``-I -S``: a few milliseconds.
"""

import json
import os
import signal
import socket
import sys
from typing import BinaryIO

RELAYED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


def ask_for_kernel(socket_path: str, args: list[str]) -> tuple[BinaryIO | None, dict]:
    """The zygote's answers, to read on, and its first: ``{"pid": ...}``, or ``{"error": ...}`` (then no answers)."""
    request = {"op": "fork", "args": args, "cwd": os.getcwd(), "env": dict(os.environ)}
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.connect(socket_path)
            conn.sendall(json.dumps(request).encode() + b"\n")
            answers = conn.makefile("rb")  # holds the connection open after the socket object is closed
        line = answers.readline()
        answer = json.loads(line) if line else {"error": "the zygote closed the connection"}
    except (OSError, ValueError) as err:
        return None, {"error": f"no kernel zygote at {socket_path} ({err})"}
    if "pid" not in answer:
        answers.close()
        return None, answer
    return answers, answer


def main(socket_path: str, args: list[str]) -> None:
    answers, answer = ask_for_kernel(socket_path, args)
    if answers is None:
        print(f"persistlab: starting the kernel the usual way: {answer.get('error')}", file=sys.stderr, flush=True)
        os.execv(sys.executable, [sys.executable, "-m", "ipykernel_launcher", *args])
    kernel = int(answer["pid"])

    def relay(signum: int, frame: object) -> None:
        try:
            os.killpg(kernel, signum)  # the kernel leads its own process group, as a usual kernel would
        except OSError:
            pass

    for signum in RELAYED:
        signal.signal(signum, relay)
    line = answers.readline()  # the zygote writes the kernel's exit code when it has reaped it
    code = json.loads(line)["exit"] if line else -signal.SIGKILL  # no answer: the zygote, and its kernels, are gone
    if code < 0:  # killed by a signal: end the same way, so that the kernel manager sees what the kernel saw
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    sys.exit(code)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
