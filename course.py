#!/usr/bin/env python3
"""Set up the course and open it, or run its tests. Needs only Python >= 3.10 and PyPI.

    python3 course.py lab          # learners: set up, then open JupyterLab on the start page (extra options go to jupyter lab)
    python3 course.py test         # maintainers: set up with the test tools too, then run every test (what CI runs)
    python3 course.py setup [lab|bench]  # set up only: the maintainers' environment, the learners' one (`lab`),
                                         # or the maintainers' with the stores only the benchmarks measure (`bench`)
    python3 course.py lock         # maintainers: resolve pyproject.toml's dependency groups into the locks
    python3 course.py lock --upgrade  # ... moving every package to its newest release that fits

The dependencies are listed once, in pyproject.toml's [dependency-groups]: `lab` is what the lessons and
exercises need, `test` adds the tests' and benchmarks' tools, `bench` the stores only benchmarks measure.
`lock` resolves them together (uv.lock, for
every supported Python and platform) and writes requirements-lab.lock, requirements-test.lock,
requirements-bench.lock (exact pins, for uv or pip) and environment.yml (the lab set, for conda / Binder).

Set-up makes a virtual environment in .venv, installs the exact versions of one lock and the course's
helper package (editable, so nbgrader's kernels find it from any folder). It is skipped when nothing it
depends on has changed; the test environment also serves `lab`.
"""

from __future__ import annotations

import hashlib
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
    "test": ROOT / "requirements-test.lock",
    "bench": ROOT / "requirements-bench.lock",
}
"""One lock per dependency group of pyproject.toml; each includes the one before it."""
UV = "uv==0.13.8"
STAMP = VENV / ".persistlab-installed"
START_PAGE = "lessons/00_start_here.ipynb"


def bin_path(name: str) -> Path:
    return VENV / ("Scripts" if os.name == "nt" else "bin") / name


def run(*cmd: object, **kwargs) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, **kwargs)


def fingerprint(group: str) -> str:
    digest = hashlib.sha256(sys.version.encode())
    for path in (LOCKS[group], ROOT / "pyproject.toml"):
        digest.update(path.read_bytes())
    return f"{group} {digest.hexdigest()}"


def installed(group: str) -> bool:
    """Whether .venv holds ``group``'s lock as it is now, or a larger group's (which holds it too)."""
    done = STAMP.read_text() if STAMP.exists() else ""
    groups = list(LOCKS)
    return done in {fingerprint(g) for g in groups[groups.index(group) :]}


def make_venv() -> Path:
    if not bin_path("python").exists():
        print(f"Creating a virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    return bin_path("python")


def install_uv() -> None:
    run(bin_path("python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", UV)


def setup(group: str = "test") -> None:
    if sys.version_info < (3, 10):  # noqa: UP036 (this file must explain itself to an older Python)
        sys.exit(f"Python 3.10 or newer is needed; this is {sys.version.split()[0]}.")
    if installed(group):
        return
    python, lock_file = make_venv(), LOCKS[group]
    try:
        install_uv()
        # Copies, not hard links: nltk refuses to read multiply-linked data files (llama-index's sentence splitter).
        uv_install = [bin_path("uv"), "pip", "install", "--link-mode=copy", "--python", python]
        # --no-deps: the lock lists every package already, and leaves out what pyproject.toml excludes.
        run(*uv_install, "--no-deps", "-r", lock_file)
        run(*uv_install, "--no-deps", "-e", ROOT)
    except (subprocess.CalledProcessError, FileNotFoundError):
        print("uv was not usable here; installing with pip instead (slower).", flush=True)
        run(python, "-m", "pip", "install", "--disable-pip-version-check", "--no-deps", "-r", lock_file)
        run(python, "-m", "pip", "install", "--disable-pip-version-check", "--no-deps", "-e", ROOT)
    STAMP.write_text(fingerprint(group))


def lab(extra: list[str]) -> None:
    setup("lab")
    args = [bin_path("jupyter"), "lab", f"--ServerApp.root_dir={ROOT}", START_PAGE, *extra]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--allow-root")
    os.chdir(ROOT)
    os.execv(str(args[0]), [str(a) for a in args])


def test(extra: list[str]) -> int:
    setup("test")
    # Every core; each file on one worker (a notebook's cells run in order in one kernel, a module-scoped
    # fixture once). pytest-xdist 3.8's xdist_group marks do nothing under pytest 9.2, so slow set-ups are
    # spread by splitting modules (tests/test_grading.py, tests/test_grading_others.py), and run longest first
    # (conftest.py's RUN_FIRST) instead of xdist's default order, most tests first.
    cmd = [
        str(bin_path("python")),
        "-m",
        "pytest",
        "-n",
        "auto",
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
    """Resolve pyproject.toml's dependency groups for every supported Python; write both locks and environment.yml."""
    stale = ROOT / "requirements.in"
    if stale.exists():
        sys.exit(
            f"{stale.name} is no longer read: move its lines into [dependency-groups] in pyproject.toml "
            "(`lab` if a lesson or exercise imports it, `test` if only tests or benchmarks do), delete it, lock again."
        )
    make_venv()
    if not bin_path("uv").exists():
        install_uv()
    uv, env = bin_path("uv"), {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    run(uv, "lock", "--python", bin_path("python"), *extra, cwd=ROOT, env=env)  # keeps locked versions that still fit
    for group, lock_file in LOCKS.items():
        run(
            uv,
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
            env=env,
        )
    write_environment_yml()


def locked_pins(group: str = "lab") -> list[str]:
    """The requirement lines of a group's lock (name==version, with markers), in order."""
    return [line.strip() for line in LOCKS[group].read_text().splitlines() if re.match(r"^[A-Za-z0-9]", line)]


def write_environment_yml() -> None:
    pins = "\n".join(f'      - "{pin}"' for pin in locked_pins("lab"))
    (ROOT / "environment.yml").write_text(
        "# Generated by `python3 course.py lock` from requirements-lab.lock: the learners' pinned set for conda / Binder.\n"
        "name: persistlab\nchannels:\n  - conda-forge\ndependencies:\n  - python=3.11\n  - pip\n"
        f'  - pip:\n{pins}\n      - "-e ."\n'
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
