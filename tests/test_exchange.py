"""The shared-server cycle through nbgrader's exchange, with real Unix accounts made for the test.

An instructor and two learners, laid out as README.md's *A shared course* recommends: the course
folder private to the instructor (umask 077), the exchange world-writable with the sticky bit, the
exchange set in each account's own nbgrader config (the course's config sets none, so it must not
override it). release -> fetch -> submit -> collect -> autograde -> feedback -> release_feedback ->
fetch_feedback, and on the way: a learner cannot read solutions/, the gradebook, the submissions or
the other learner's work; the key in the instructor's environment never reaches graded code; no
hidden test and no rubric reaches a learner.

Needs root (CI runs as root) to create the accounts, which are removed afterwards.
"""

from __future__ import annotations

import json
import os
import pwd
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
from persistlab.hidden import html_text
from persistlab.notebooks import NOTEBOOK_ENV

pytestmark = pytest.mark.nbgrader

REPO = Path(__file__).resolve().parents[1]
EXERCISE = "01_persist_and_reload"
FAKE_KEY = "sk-instructors-key-must-not-reach-submissions"
WORK = {"a": "solution", "b": "hostile_reads_secrets"}  # learner -> reference submission handed in
BIN = Path(sys.executable).parent

if not hasattr(os, "geteuid") or os.geteuid() != 0:
    pytest.skip("creating the instructor's and learners' Unix accounts needs root (CI runs as root)", allow_module_level=True)
if not shutil.which("useradd") or not shutil.which("runuser"):
    pytest.skip("useradd and runuser (util-linux, passwd) are needed to make the accounts", allow_module_level=True)


@dataclass
class Account:
    name: str
    home: Path

    def run(self, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, check: bool = True) -> str:
        """Run a command as this account, with umask 077 and a clean environment (plus ``env``)."""
        base = {"HOME": str(self.home), "USER": self.name, "LOGNAME": self.name, "LANG": "C.UTF-8",
                "PATH": f"{BIN}{os.pathsep}/usr/bin:/bin", "PYTHONUNBUFFERED": "1", **NOTEBOOK_ENV, **(env or {})}
        command = ["runuser", "-u", self.name, "--", "env", "-i", *(f"{k}={v}" for k, v in base.items()),
                   "sh", "-c", 'umask 077 && cd "$0" && exec "$@"', str(cwd or self.home), *args]
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900)
        if check:
            assert done.returncode == 0, f"{self.name}: {' '.join(args)} exited {done.returncode}:\n{done.stdout[-4000:]}"
        return done.stdout

    def nbgrader(self, *args: str, **kwargs) -> str:
        return self.run(sys.executable, "-m", "nbgrader", *args, **kwargs)


@dataclass
class Classroom:
    base: Path
    exchange: Path
    instructor: Account
    learners: dict[str, Account]
    course: Path
    probes: dict[str, str]
    autograde_output: str


def _make_account(name: str, home: Path, exchange: Path) -> Account:
    subprocess.run(["useradd", "--create-home", "--home-dir", str(home), "--shell", "/bin/sh", "--user-group", name],
                   check=True, capture_output=True)
    home.chmod(0o700)
    config = home / ".jupyter" / "nbgrader_config.py"  # the account's own config: where the exchange is
    config.parent.mkdir()
    config.write_text(f'c = get_config()\nc.Exchange.root = "{exchange}"\nc.CourseDirectory.course_id = "persistlab"\n')
    subprocess.run(["chown", "-R", f"{name}:{name}", str(home)], check=True)
    return Account(name, home)


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
    suffix = secrets.token_hex(3)
    made: list[Account] = []
    try:
        instructor = _make_account(f"plteach{suffix}", base / "home" / "teacher", exchange)
        made.append(instructor)
        learners = {}
        for key in WORK:
            learners[key] = _make_account(f"pllearn{key}{suffix}", base / "home" / f"learner-{key}", exchange)
            made.append(learners[key])
        probe = learners["b"].run(sys.executable, "-c", "import sys, persistlab, nbgrader; print(sys.version)", check=False)
        if probe.strip() != sys.version:
            pytest.skip(
                f"other accounts cannot run this Python environment as it is ({sys.executable}, base {sys.base_prefix}): "
                f"they get {probe.strip()[-300:]!r}. Its base interpreter must be readable by every account "
                "(not under /root), as README's shared layout says."
            )

        # The instructor's private course folder (as README's layout: mode 700, files 600).
        course = instructor.home / "persistlab-course"
        (course / "solutions").mkdir(parents=True)
        shutil.copy(REPO / "nbgrader_config.py", course)
        shutil.copytree(REPO / "solutions" / EXERCISE, course / "solutions" / EXERCISE)
        subprocess.run(["chown", "-R", f"{instructor.name}:{instructor.name}", str(course)], check=True)
        subprocess.run(["chmod", "-R", "go-rwx", str(course)], check=True)

        instructor.run(sys.executable, "-m", "persistlab.cli", "release", EXERCISE, cwd=course)
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
        probes = json.loads(b.run(sys.executable, "-c", PROBE, json.dumps(targets)).strip().splitlines()[-1])

        instructor.nbgrader("collect", EXERCISE, cwd=course)
        graded = instructor.run(sys.executable, "-m", "persistlab.cli", "autograde", EXERCISE, cwd=course,
                                env={"OPENAI_API_KEY": FAKE_KEY, "PERSISTLAB_BACKEND": "openai"})
        instructor.run(sys.executable, "-m", "persistlab.cli", "feedback", EXERCISE, cwd=course)
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
    leaks = [p for p in classroom.base.rglob("*") if p.is_file() and FAKE_KEY.encode() in p.read_bytes()]
    assert not leaks, leaks


def test_learners_fetch_their_feedback_without_hidden_tests_or_rubric(classroom: Classroom) -> None:
    solution = REPO / "solutions" / EXERCISE / f"{EXERCISE}.ipynb"
    secret = set()
    for cell in submissions.cells(solution):
        _, _, hidden = "".join(cell["source"]).partition("### BEGIN HIDDEN TESTS")
        secret |= {line.strip().strip("- ") for line in hidden.split("\n") if len(line.strip()) > 20 and "HIDDEN" not in line}
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
