#!/usr/bin/env python3
"""Set up the course and open it, or run its tests. Needs only Python >= 3.10 and PyPI.

    python3 course.py lab          # learners: set up, then open JupyterLab on the start page (extra options go to jupyter lab)
    python3 course.py test         # maintainers: set up with the test tools too, then run every test (what CI runs)
    python3 course.py setup [lab|postgres|bench]  # set up only: the maintainers' environment, the learners' one
                                         # (`lab`), the learners' plus lesson 12's PostgreSQL (`postgres`), or the
                                         # maintainers' with the stores only the benchmarks measure (`bench`)
    python3 course.py lock         # maintainers: resolve pyproject.toml's dependency groups into the locks
    python3 course.py lock --upgrade  # ... moving every package to its newest release that fits

The dependencies are listed once, in pyproject.toml's [dependency-groups]: `lab` is what the lessons and
exercises need, `postgres` adds lesson 12's server and stores, `test` the tests' and benchmarks' tools,
`bench` the stores only benchmarks measure. `lock` resolves them together into uv.lock (every supported Python
and platform) and exports each group's exact pins for pip users (requirements-lab.lock,
requirements-postgres.lock, requirements-test.lock, requirements-bench.lock);
environment.yml (conda, Binder) installs requirements-lab.lock.

Set-up is `uv sync --locked` into .venv (uv itself comes from PyPI the first time): the exact versions of
uv.lock and the course's helper package, editable so nbgrader's kernels find it from any folder. uv skips
what is already installed; the test environment also serves `lab`. Maintainers may run uv directly:
`.venv/bin/uv sync --locked --group test`, `.venv/bin/uv run pytest tests/test_repo.py`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("PERSISTLAB_VENV", ROOT / ".venv"))
LOCKS = {
    "lab": ROOT / "requirements-lab.lock",
    "postgres": ROOT / "requirements-postgres.lock",
    "test": ROOT / "requirements-test.lock",
    "bench": ROOT / "requirements-bench.lock",
}
"""What `lock` exports from uv.lock for pip and conda users, one file per dependency group; each includes the one before."""
START_PAGE = "lessons/00_start_here.ipynb"


def bin_path(name: str) -> Path:
    return VENV / ("Scripts" if os.name == "nt" else "bin") / name


def run(*cmd: object, **kwargs) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, **kwargs)


def uv() -> Path:
    """uv, installed into .venv from PyPI the first time (the lock pins it too, so `uv sync` keeps it there)."""
    if not bin_path("python").exists():
        print(f"Creating a virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    if not bin_path("uv").exists():
        run(bin_path("python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", uv_pin())
    return bin_path("uv")


def uv_pin() -> str:
    """The uv release uv.lock holds (the lab group lists it)."""
    match = re.search(r'\[\[package\]\]\nname = "uv"\nversion = "([^"]+)"', (ROOT / "uv.lock").read_text())
    return f"uv=={match.group(1)}" if match else "uv"


def uv_env() -> dict[str, str]:
    # Copies, not hard links: nltk refuses to read multiply-linked data files (llama-index's sentence splitter).
    return {**os.environ, "UV_PROJECT_ENVIRONMENT": str(VENV), "UV_LINK_MODE": "copy", "UV_PYTHON_DOWNLOADS": "never"}


def setup(group: str = "test") -> None:
    """Install uv.lock's ``group`` (and the course's package, editable) into .venv; uv skips what is up to date.

    ``--inexact`` keeps what a larger group installed: `lab` after `test` must not remove the test tools."""
    if sys.version_info < (3, 10):  # noqa: UP036 (this file must explain itself to an older Python)
        sys.exit(f"Python 3.10 or newer is needed; this is {sys.version.split()[0]}.")
    tool = uv()
    run(
        tool,
        "sync",
        "--locked",
        "--inexact",
        "--quiet",
        "--no-default-groups",
        "--group",
        group,
        "--python",
        bin_path("python"),
        cwd=ROOT,
        env=uv_env(),
    )


def lab(extra: list[str]) -> None:
    setup("lab")
    args = [bin_path("jupyter"), "lab", f"--ServerApp.root_dir={ROOT}", START_PAGE, *extra]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--allow-root")
    os.chdir(ROOT)
    os.execv(str(args[0]), [str(a) for a in args])


def test(extra: list[str]) -> int:
    setup("test")
    # One worker more than cores: the suite spends part of its time waiting (on servers, a browser, pip, cell
    # time limits), which a spare worker fills. Each file on one worker (a notebook's cells run in order in one
    # kernel, a module-scoped fixture once). pytest-xdist 3.8's xdist_group marks do nothing under pytest 9.2, so
    # slow set-ups are spread by splitting modules (tests/test_grading.py, tests/test_grading_others.py), and run
    # longest first (conftest.py's RUN_FIRST) instead of xdist's default order, most tests first.
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    cmd = [
        str(bin_path("python")),
        "-m",
        "pytest",
        "-n",
        str(cores + 1),
        "--dist",
        "loadscope",
        "--no-loadscope-reorder",
        "--durations=15",
        *extra,
    ]
    # The suite starts a few hundred Python processes (kernels, nbgrader, servers): let them cache
    # bytecode instead of compiling llama-index, nbgrader and Jupyter from source each time (~6 s each).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    print("+", " ".join(cmd), flush=True)
    return subprocess.run(cmd, cwd=ROOT, env=env).returncode


def lock(extra: list[str]) -> None:
    """Resolve pyproject.toml's dependency groups for every supported Python (uv.lock), and export each group's
    exact pins for pip and conda users (environment.yml installs requirements-lab.lock)."""
    tool = uv()
    run(tool, "lock", "--python", bin_path("python"), *extra, cwd=ROOT, env=uv_env())  # keeps versions that still fit
    for group, lock_file in LOCKS.items():
        run(
            tool,
            "export",
            "--frozen",
            "--no-default-groups",
            "--group",
            group,
            "--no-emit-project",
            "--no-hashes",
            "--quiet",
            "-o",
            lock_file.name,
            cwd=ROOT,
            env=uv_env(),
        )


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "help"
    if command == "lab":
        lab(argv[1:])
    elif command == "test":
        return test(argv[1:])
    elif command == "setup":
        if argv[1:] not in ([], *([g] for g in LOCKS)):
            print(__doc__)
            return 2
        setup(*argv[1:])
    elif command == "lock":
        lock(argv[1:])
    else:
        print(__doc__)
        return 0 if command in ("help", "-h", "--help") else 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
