"""The course installed with pip into a Python environment that already exists, as on a JupyterHub image, Binder
without conda or Colab, with the README's command, and lessons run there from outside the clone.

The environment is a new venv that already holds other versions of a few common packages; the README's command
(section "Install into an existing Jupyter") runs in a copy of the clone. The lessons are copied to a folder of
their own, without their quizzes beside them, as Colab opens a notebook, and run under nbval (this environment's
pytest) on a kernel of the pip environment. Lessons 00 and 02 by default (lesson 02 imports the vector stores the
plain package leaves out); ``PERSISTLAB_PIP_LESSONS=all`` runs every lesson, ``none`` skips this module.

The README gives the command for pip and says uv's ``uv pip install`` takes the same arguments. The suite runs it
with uv by default (about 6 CPU s against pip's 76 for the lock's packages, which would put CI over its time);
``PERSISTLAB_PIP_INSTALLER=pip`` runs it with pip itself, as a release check should.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import REPO

LESSONS_ENV = "PERSISTLAB_PIP_LESSONS"
INSTALLER_ENV = "PERSISTLAB_PIP_INSTALLER"
LESSONS = ["00_start_here", "02_reload_correctly"]
OTHER_VERSIONS = ["httpx==0.27.2", "jinja2==3.0.3", "tqdm==4.66.5", "packaging==23.2"]
"""Already in the environment, at versions other than the lock's (as a JupyterHub image or Colab has them)."""
KERNEL = "persistlab-pip"
if os.environ.get(LESSONS_ENV) == "none":
    pytest.skip(f"{LESSONS_ENV}=none", allow_module_level=True)
NOT_IN_A_CLONE = (".git", ".venv", "tests", "benchmarks", "storage", "build", "__pycache__", "*.egg-info")


def readme_install_command() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = text.split("## Install into an existing Jupyter", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    (command,) = [line for line in block.splitlines() if line.startswith("pip install")]
    return command


@dataclass
class PipEnv:
    root: Path
    python: Path
    clone: Path
    env: dict[str, str]


@pytest.fixture(scope="module")
def pip_env(tmp_path_factory: pytest.TempPathFactory) -> PipEnv:
    root = tmp_path_factory.mktemp("pip-route")
    clone = root / "persistlab"
    shutil.copytree(REPO, clone, ignore=shutil.ignore_patterns(*NOT_IN_A_CLONE), symlinks=True)
    subprocess.run([sys.executable, "-m", "venv", root / "venv"], check=True)
    python = root / "venv" / "bin" / "python"
    # Nothing from this environment leaks into that one; bytecode is compiled on first import, not for all 900 MB.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")} | {"PIP_NO_COMPILE": "1"}
    if os.environ.get(INSTALLER_ENV, "uv") == "pip":
        install = [str(python), "-m", "pip", "--quiet", "install"]
    else:  # the same arguments; copies, as pip makes them (nltk refuses hard-linked data files)
        install = [str(Path(sys.executable).parent / "uv"), "pip", "install", "--quiet", "--python", str(python)]
        install += ["--link-mode=copy"]
    subprocess.run([*install, *OTHER_VERSIONS], check=True, env=env, capture_output=True)
    args = shlex.split(readme_install_command())
    assert args[:2] == ["pip", "install"], args
    result = subprocess.run([*install, *args[2:]], cwd=clone, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    kernels = root / "kernels"
    subprocess.run(
        [python, "-m", "ipykernel", "install", "--prefix", kernels, "--name", KERNEL],
        check=True,
        env=env,
        capture_output=True,
    )
    env["JUPYTER_PATH"] = str(kernels / "share" / "jupyter")
    return PipEnv(root, python, clone, env)


def _pins(lock: Path) -> dict[str, str]:
    """``{name: version}`` of the lock's lines that apply to every Python (no marker)."""
    pins = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        if match := re.fullmatch(r"([A-Za-z0-9_.\-\[\]]+)==([^\s;]+)", line.strip()):
            pins[re.sub(r"\[.*\]", "", match.group(1)).lower().replace("_", "-")] = match.group(2)
    return pins


def test_the_lock_wins_over_what_the_environment_had(pip_env: PipEnv) -> None:
    listed = subprocess.run(
        [pip_env.python, "-m", "pip", "list", "--format=json"], env=pip_env.env, capture_output=True, text=True
    )
    installed = {p["name"].lower().replace("_", "-"): p["version"] for p in json.loads(listed.stdout)}
    pins = _pins(REPO / "requirements-lab.lock")
    wrong = {name: (installed.get(name), version) for name, version in pins.items() if installed.get(name) != version}
    assert not wrong, f"(installed, locked) differ: {wrong}"
    for name in OTHER_VERSIONS:
        assert name.split("==")[0] in pins, f"{name} is not in the lock: choose a package the course uses"
    assert "onnxruntime" not in installed and "kubernetes" not in installed, "what the lock leaves out came back"


def test_lessons_run_outside_the_clone(pip_env: PipEnv) -> None:
    chosen = os.environ.get(LESSONS_ENV, "")
    names = sorted(p.stem for p in (REPO / "lessons").glob("[0-9][0-9]_*.ipynb")) if chosen == "all" else LESSONS
    elsewhere = pip_env.root / "elsewhere"  # no quizzes/, no data/ above it
    elsewhere.mkdir()
    for name in names:
        shutil.copy(REPO / "lessons" / f"{name}.ipynb", elsewhere)
    env = pip_env.env | {"PERSISTLAB_PROGRESS_FILE": str(pip_env.root / "progress.json")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval", f"--nbval-kernel-name={KERNEL}"]
        + [f"{name}.ipynb" for name in names],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


def test_the_grading_command_runs(pip_env: PipEnv) -> None:
    result = subprocess.run(
        [pip_env.root / "venv" / "bin" / "persistlab", "check", "--help"],
        env=pip_env.env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0 and "NOTEBOOK" in result.stdout, result.stderr
