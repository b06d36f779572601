"""The shared-server cycle through nbgrader's exchange, with real Unix accounts made for the test.

An instructor and two learners, laid out as README.md's *A shared course* recommends: the course
folder private to the instructor (umask 077), the exchange world-writable with the sticky bit, the
exchange set in each account's own nbgrader config (the course's config sets none, so it must not
override it). release -> fetch -> submit -> collect -> autograde -> feedback -> release_feedback ->
fetch_feedback, and on the way: a learner cannot read solutions/, the gradebook, the submissions or
the other learner's work; the key in the instructor's environment never reaches graded code; no
hidden test and no rubric reaches a learner.

Everyone runs one Python environment that every account can read, as README's ``/opt/persistlab``:
the fixture copies the package's part of the checkout (no solutions/) into a world-readable temporary
folder and builds its .venv there once, on an interpreter outside /root, with uv from the uv cache
(offline). The test's own .venv cannot serve: course.py makes it from whatever Python ran it (under
/root in CI, mode 700) and the checkout itself may be unreadable to other accounts.

Needs root (CI runs as root) to create the accounts, which are removed afterwards with every folder made.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import submissions
from helpers import FAKE_KEY, REPO

from persistlab.classroom.hidden import html_text
from persistlab.maintainers.notebooks import NOTEBOOK_ENV

pytestmark = pytest.mark.nbgrader

EXERCISE = "01_persist_and_reload"
WORK = {"a": "solution", "b": "hostile_reads_secrets"}  # learner -> reference submission handed in
LOCK = REPO / "requirements-lab.lock"  # what learners and instructors need (course.py setup lab)
CHECKOUT = ("pyproject.toml", "README.md", "LICENSE", "src", "data")  # the part of a checkout the package needs
UV = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
IMPORTED = (
    "nbgrader.apps",
    "ipykernel.kernelapp",
    "persistlab.cli",
    "persistlab.classroom.nbgrader_config",
    "persistlab.classroom.preprocessors",
    "persistlab.grading",
    "persistlab.learning.quiz",
    "llama_index.core",
    "llama_index.embeddings.openai",
    "llama_index.llms.openai",
)
"""What the exchange cycle's processes import: nbgrader's commands, the grading kernels, the exercise."""
MINOR = f"python{sys.version_info.major}.{sys.version_info.minor}"  # the uv cache holds this version's wheels

if not hasattr(os, "geteuid") or os.geteuid() != 0:
    pytest.skip(
        "creating the instructor's and learners' Unix accounts needs root (CI runs as root)", allow_module_level=True
    )
if not shutil.which("useradd") or not shutil.which("runuser"):
    pytest.skip("useradd and runuser (util-linux, passwd) are needed to make the accounts", allow_module_level=True)
if UV is None:
    pytest.skip(
        "uv (course.py setup puts it in .venv/bin) is needed to build the accounts' environment offline",
        allow_module_level=True,
    )


@dataclass
class Account:
    name: str
    home: Path
    bin_dir: Path  # the shared environment's bin folder, first on PATH

    @property
    def python(self) -> str:
        return str(self.bin_dir / "python")

    def run(self, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, check: bool = True) -> str:
        """Run a command as this account, with umask 077 and a clean environment (plus ``env``)."""
        base = {
            "HOME": str(self.home),
            "USER": self.name,
            "LOGNAME": self.name,
            "LANG": "C.UTF-8",
            "PATH": f"{self.bin_dir}{os.pathsep}/usr/bin:/bin",
            "PYTHONUNBUFFERED": "1",
            **NOTEBOOK_ENV,
            **(env or {}),
        }
        command = [
            "runuser",
            "-u",
            self.name,
            "--",
            "env",
            "-i",
            *(f"{k}={v}" for k, v in base.items()),
            "sh",
            "-c",
            'umask 077 && cd "$0" && exec "$@"',
            str(cwd or self.home),
            *args,
        ]
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900)
        if check:
            assert done.returncode == 0, (
                f"{self.name}: {' '.join(args)} exited {done.returncode}:\n{done.stdout[-4000:]}"
            )
        return done.stdout

    def nbgrader(self, *args: str, **kwargs) -> str:
        return self.run(self.python, "-m", "nbgrader", *args, **kwargs)


@dataclass
class Classroom:
    base: Path
    exchange: Path
    instructor: Account
    learners: dict[str, Account]
    course: Path
    probes: dict[str, str]
    autograde_output: str


def _make_account(name: str, home: Path, exchange: Path, bin_dir: Path) -> Account:
    subprocess.run(
        ["useradd", "--create-home", "--home-dir", str(home), "--shell", "/bin/sh", "--user-group", name],
        check=True,
        capture_output=True,
    )
    home.chmod(0o700)
    config = home / ".jupyter" / "nbgrader_config.py"  # the account's own config: where the exchange is
    config.parent.mkdir()
    config.write_text(f'c = get_config()\nc.Exchange.root = "{exchange}"\nc.CourseDirectory.course_id = "persistlab"\n')
    subprocess.run(["chown", "-R", f"{name}:{name}", str(home)], check=True)
    return Account(name, home, bin_dir)


def _python_for_everyone(account: Account) -> Path:
    """An interpreter of this Python version that ``account`` can run, or skip saying what was tried."""
    candidates = dict.fromkeys(Path(d) / MINOR for d in (Path(sys.base_prefix) / "bin", "/usr/bin", "/usr/local/bin"))
    tried = []
    for python in candidates:
        if not python.exists():
            tried.append(f"{python}: missing")
            continue
        out = account.run(str(python), "-c", "import sys; print(sys.version_info[:2])", check=False).strip()
        if out == str(sys.version_info[:2]):
            return python
        tried.append(f"{python}: {out[-200:]!r}")
    pytest.skip(
        f"no {MINOR} that other accounts can run, for their shared environment ({'; '.join(tried)}); "
        f"the uv cache holds wheels for {MINOR} only, so it must be that version, outside /root"
    )


def _uv(*args: object) -> None:
    """Run uv from the cache set-up filled, making files every account can read. The lock pins some packages
    by exact Python version (soupsieve 2.10 below 3.11.5, 4.1.3 above): what this interpreter needs and
    set-up's did not is then fetched from PyPI."""

    def run(*offline: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [UV, *map(str, args), *offline, "--quiet"],
            capture_output=True,
            text=True,
            umask=0o022,
            env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
        )

    done = run("--offline")
    if done.returncode and "Network connectivity is disabled" in done.stderr:
        done = run()
    assert done.returncode == 0, f"uv {' '.join(map(str, args))} exited {done.returncode}:\n{done.stderr[-4000:]}"


def _build_shared_environment(checkout: Path, python: Path) -> Path:
    """README's ``/opt/persistlab``: the package's part of a checkout, with a .venv of the lab lock; its python."""
    checkout.mkdir(mode=0o755)
    for name in CHECKOUT:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, checkout / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy(REPO / name, checkout / name)
    subprocess.run(["chmod", "-R", "a+rX", str(checkout)], check=True)
    venv = checkout / ".venv"
    _uv("venv", "--python", python, venv)
    target = venv / "bin" / "python"
    # Hard links to the cache: a copy of 700 MB takes twice as long. (On a file system with reflinks, clone would do.)
    _uv("pip", "install", "--python", target, "--no-deps", "--link-mode=hardlink", "-r", LOCK)
    # ... except llama-index-core: nltk refuses to read multiply-linked data files (its sentence splitter's punkt).
    core = re.search(r"^llama-index-core==\S+", LOCK.read_text(), re.M)
    assert core, f"{LOCK.name} pins no llama-index-core"
    _uv(
        "pip",
        "install",
        "--python",
        target,
        "--no-deps",
        "--link-mode=copy",
        "--reinstall-package",
        "llama-index-core",
        core.group(),
    )
    # Editable, as course.py setup installs it; built by the lock's setuptools, so nothing is downloaded.
    _uv("pip", "install", "--python", target, "--no-deps", "--no-build-isolation", "--link-mode=copy", "-e", checkout)
    # Bytecode for what the cycle imports, written now by the environment's owner: the accounts cannot write
    # __pycache__ here, and compiling nbgrader, Jupyter and llama-index again doubles the CPU time of each of
    # the cycle's ~20 process starts. (Compiling all 11,000 files instead costs four times this import.)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([target, "-c", f"import {', '.join(IMPORTED)}"], check=True, env=env, umask=0o022)
    return target


CHECK_ENVIRONMENT = """
import nbgrader, persistlab
from llama_index.core.node_parser import SentenceSplitter  # reads nltk's data, which must not be hard links
assert len(SentenceSplitter(chunk_size=40, chunk_overlap=0).split_text("Dr. Smith persisted it. " * 20)) > 1
print(persistlab.__file__)
"""

PROBE = r"""
import json, os, sys
results = {}
for label, path in json.loads(sys.argv[1]).items():
    try:
        if os.path.isdir(path):
            os.listdir(path)
        else:
            open(path, "rb").read(1)
        results[label] = "readable"
    except PermissionError:
        results[label] = "denied"
    except FileNotFoundError:
        results[label] = "missing"
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def classroom() -> Iterator[Classroom]:
    base = Path(tempfile.mkdtemp(prefix="persistlab-classroom-", dir="/tmp"))
    base.chmod(0o755)
    exchange = base / "exchange"
    exchange.mkdir()
    exchange.chmod(0o1777)
    shared = base / "persistlab"  # README's /opt/persistlab
    bin_dir = shared / ".venv" / "bin"
    suffix = secrets.token_hex(3)
    made: list[Account] = []
    try:
        instructor = _make_account(f"plteach{suffix}", base / "home" / "teacher", exchange, bin_dir)
        made.append(instructor)
        learners = {}
        for key in WORK:
            learners[key] = _make_account(f"pllearn{key}{suffix}", base / "home" / f"learner-{key}", exchange, bin_dir)
            made.append(learners[key])
        python = _build_shared_environment(shared, _python_for_everyone(learners["b"]))
        seen = learners["b"].run(str(python), "-c", CHECK_ENVIRONMENT).strip().splitlines()[-1]
        assert seen == str(shared / "src" / "persistlab" / "__init__.py"), seen

        # The instructor's private course folder (as README's layout: mode 700, files 600).
        course = instructor.home / "persistlab-course"
        (course / "solutions").mkdir(parents=True)
        shutil.copy(REPO / "nbgrader_config.py", course)
        shutil.copytree(REPO / "solutions" / EXERCISE, course / "solutions" / EXERCISE)
        subprocess.run(["chown", "-R", f"{instructor.name}:{instructor.name}", str(course)], check=True)
        subprocess.run(["chmod", "-R", "go-rwx", str(course)], check=True)

        instructor.run(instructor.python, "-m", "persistlab.cli", "release", EXERCISE, cwd=course)
        instructor.nbgrader("release_assignment", EXERCISE, "--force", cwd=course)

        solution = REPO / "solutions" / EXERCISE / f"{EXERCISE}.ipynb"
        for key, learner in learners.items():
            learner.nbgrader("fetch_assignment", EXERCISE)
            fetched = learner.home / EXERCISE / f"{EXERCISE}.ipynb"
            work = submissions.build(submissions.load(EXERCISE, WORK[key], solution), fetched, solution)
            fetched.write_text(json.dumps(work))  # what the learner typed in (root writes; the owner stays)
            learner.nbgrader("submit", EXERCISE)

        a, b = learners["a"], learners["b"]
        targets = {
            "solutions": str(course / "solutions" / EXERCISE / f"{EXERCISE}.ipynb"),
            "course folder": str(course),
            "gradebook": str(course / "gradebook.db"),
            "exchange inbound": str(exchange / "persistlab" / "inbound"),
            "other learner's home": str(a.home),
            "other learner's notebook": str(a.home / EXERCISE / f"{EXERCISE}.ipynb"),
        }
        probes = json.loads(b.run(b.python, "-c", PROBE, json.dumps(targets)).strip().splitlines()[-1])

        instructor.nbgrader("collect", EXERCISE, cwd=course)
        graded = instructor.run(
            instructor.python,
            "-m",
            "persistlab.cli",
            "autograde",
            EXERCISE,
            cwd=course,
            env={"OPENAI_API_KEY": FAKE_KEY, "PERSISTLAB_BACKEND": "openai"},
        )
        instructor.run(instructor.python, "-m", "persistlab.cli", "feedback", EXERCISE, cwd=course)
        instructor.nbgrader("release_feedback", EXERCISE, cwd=course)
        for learner in learners.values():
            learner.nbgrader("fetch_feedback", EXERCISE)
        yield Classroom(base, exchange, instructor, learners, course, probes, graded)
    finally:
        for account in made:
            subprocess.run(["userdel", "--remove", account.name], capture_output=True)
            subprocess.run(["groupdel", account.name], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def test_learners_cannot_read_solutions_grades_or_each_others_work(classroom: Classroom) -> None:
    assert classroom.probes == dict.fromkeys(classroom.probes, "denied"), classroom.probes


def test_submissions_are_collected_and_graded_with_their_points(classroom: Classroom) -> None:
    from nbgrader.api import Gradebook

    solution = REPO / "solutions" / EXERCISE / f"{EXERCISE}.ipynb"
    with Gradebook(f"sqlite:///{classroom.course / 'gradebook.db'}") as gb:
        for key, learner in classroom.learners.items():
            nb = gb.find_submission_notebook(EXERCISE, EXERCISE, learner.name)
            assert {g.name: g.auto_score for g in nb.grades} == submissions.load(EXERCISE, WORK[key], solution).expected
    for learner in classroom.learners.values():
        assert learner.name in classroom.autograde_output


def test_the_instructors_key_never_reaches_graded_code(classroom: Classroom) -> None:
    graded = classroom.course / "autograded" / classroom.learners["b"].name / EXERCISE / f"{EXERCISE}.ipynb"
    printed = "".join("".join(o.get("text", "")) for c in submissions.cells(graded) for o in c.get("outputs", []))
    assert "{}" in printed.splitlines() and "Backend: the offline simulator" in printed, printed
    written = [*classroom.exchange.rglob("*"), *(classroom.base / "home").rglob("*")]  # all but the shared environment
    leaks = [p for p in written if p.is_file() and FAKE_KEY.encode() in p.read_bytes()]
    assert not leaks, leaks


def test_learners_fetch_their_feedback_without_hidden_tests_or_rubric(classroom: Classroom) -> None:
    solution = REPO / "solutions" / EXERCISE / f"{EXERCISE}.ipynb"
    release = classroom.course / "exercises" / EXERCISE / f"{EXERCISE}.ipynb"
    # Hidden lines that the release does not show (the visible part of a test may share a line with the hidden part).
    public = {
        line.strip().strip("- ") for cell in submissions.cells(release) for line in "".join(cell["source"]).split("\n")
    }
    secret = set()
    for cell in submissions.cells(solution):
        _, _, hidden = "".join(cell["source"]).partition("### BEGIN HIDDEN TESTS")
        secret |= {
            line.strip().strip("- ") for line in hidden.split("\n") if len(line.strip()) > 20 and "HIDDEN" not in line
        }
    secret -= public
    assert len(secret) > 20, secret  # the check has something to find
    for learner in classroom.learners.values():
        pages = sorted((learner.home / EXERCISE / "feedback").glob(f"*/{EXERCISE}.html"))
        assert len(pages) == 1, f"{learner.name} fetched {pages}"
        # nbgrader copies feedback with the exchange's file mode; the learner's home (700) keeps it theirs.
        assert pages[0].stat().st_uid == pwd.getpwnam(learner.name).pw_uid
        assert not learner.home.stat().st_mode & 0o077
        text = html_text(pages[0].read_text(encoding="utf-8"))
        assert "persist_writes_files" in text
        leaked = [line for line in secret if line in text]
        assert not leaked, (learner.name, leaked[:3])
