"""The grading cycle behind ``persistlab release|collect|autograde|feedback|export|check``.

Instructors run nbgrader through these commands (they call the real ``nbgrader`` command, in the
course folder, with the settings of :mod:`persistlab.classroom.nbgrader_config` added):

- :func:`release`: ``nbgrader generate_assignment`` from ``solutions/`` into ``exercises/``.
- :func:`collect`: an LMS "download all submissions" zip into ``submitted/<student>/<assignment>/``
  with ``nbgrader zip_collect``. File names follow :data:`FILE_NAME_CONVENTION`.
- :func:`persistlab.classroom.autograde.autograde` (its own module): ``nbgrader autograde`` for every
  submission of an assignment, in parallel batches of students.
- :func:`feedback`: ``nbgrader generate_feedback``, then a check that no feedback file shows a
  hidden test line (nbgrader leaks them, issue #917; the course's preprocessor removes them).
- :func:`export`: ``nbgrader export`` to a CSV file.

The course folder is :class:`persistlab.classroom.course.Course`; hidden tests, their markers and the leak
check are :mod:`persistlab.classroom.hidden`; the learner's own check is :mod:`persistlab.classroom.selfcheck`. This module
imports nothing heavy at load time.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from persistlab.classroom.course import ROSTER_FILE, ClassroomError, Course, readable_notebook
from persistlab.classroom.graded_env import graded_code_env
from persistlab.classroom.hidden import leaked_lines

FILE_NAME_CONVENTION = "<student>_[anything_]<notebook>[-N].ipynb"
"""How :func:`collect` reads a submission's student from its file name, anywhere in the zip:
the student id is everything before the first underscore, and the name ends with the released
notebook's name (``ada_01_persist_and_reload.ipynb``). Canvas's names fit
(``lovelaceada_1234_5678_01_persist_and_reload-1.ipynb``: student ``lovelaceada``). For other LMSs
pass ``--regexp`` (nbgrader's ``named_regexp``, with groups ``student_id`` and ``file_id``)."""

STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@+-]*")
"""Student ids the commands accept: nbgrader splits lists of ids on commas and treats ``*?[`` as globs."""

# --- running nbgrader -------------------------------------------------------------------------

_EXTRA_CONFIG = "from persistlab.classroom.nbgrader_config import configure\nconfigure(get_config())\n"


def run_nbgrader(
    course: Course, *args: str, check: bool = True, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``nbgrader *args`` in the course folder with the course's grading settings; output captured.

    Uses this Python's nbgrader (its ``alembic`` must be on PATH too) in :func:`graded_code_env`, plus ``env``. With
    ``check``, a non-zero exit raises :class:`ClassroomError` with the end of nbgrader's log.
    """
    bin_dir = str(Path(sys.executable).parent)
    env = {**graded_code_env(), **(env or {})}
    env["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    with tempfile.TemporaryDirectory(prefix="persistlab-nbgrader-") as tmp:
        extra = Path(tmp) / "persistlab_nbgrader_config.py"
        extra.write_text(_EXTRA_CONFIG, encoding="utf-8")
        command = [
            sys.executable,
            "-m",
            "nbgrader",
            *args,
            f"--NbGrader.config_file={extra.with_suffix('')}",  # nbgrader adds the .py
            f"--CourseDirectory.db_url={course.gradebook_url()}",
        ]
        result = subprocess.run(command, cwd=course.root, env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
        raise ClassroomError(f"nbgrader {' '.join(args)} failed (exit {result.returncode}):\n{tail}")
    return result


def release(course: Course, assignments: Sequence[str]) -> list[Path]:
    """Generate the learners' version of each assignment into the release folder; the notebooks written."""
    course.chosen(assignments, False, "release")
    if sorted(assignments) == course.assignments():
        run_nbgrader(course, "generate_assignment", "*", "--force")  # one nbgrader start-up for all
    else:
        for name in assignments:
            run_nbgrader(course, "generate_assignment", name, "--force")
    return sorted(p for name in assignments for p in course.path(course.release, name).glob("*.ipynb"))


# --- collecting an LMS zip ----------------------------------------------------------------------


def default_regexp(notebooks: Iterable[str]) -> str:
    """nbgrader ``named_regexp`` for :data:`FILE_NAME_CONVENTION` and these notebook names."""
    names = "|".join(re.escape(n) for n in sorted(notebooks))
    return rf".*/(?P<student_id>[A-Za-z0-9.@+-]+)_(?:[^/]*_)?(?P<file_id>{names})(?:-\d+)?\.ipynb$"


@dataclass
class CollectResult:
    """Who was collected from a zip, and the files that could not be matched to a student."""

    students: list[str]
    skipped: list[str]


def collect(course: Course, zip_path: Path, assignment: str, regexp: str | None = None) -> CollectResult:
    """Put each submission in an LMS zip into ``submitted/<student>/<assignment>/`` (nbgrader zip_collect).

    The zip is copied to ``downloaded/<assignment>/archive/`` and extracted next to it; zips inside
    it are opened too. A student's earlier submission of this assignment is replaced.
    """
    zip_path = Path(zip_path)
    if not zip_path.is_file():
        raise ClassroomError(f"{zip_path} does not exist. Give the zip your LMS made with 'download all submissions'.")
    if not zipfile.is_zipfile(zip_path):
        raise ClassroomError(
            f"{zip_path} is not a zip file. Give the zip your LMS made with 'download all submissions'."
        )
    notebooks = course.notebooks(assignment)
    if not course.path(course.release, assignment).is_dir():
        raise ClassroomError(f"{assignment} has not been released yet: run 'persistlab release {assignment}' first.")
    archive = course.root / "downloaded" / assignment / "archive"
    if archive.exists():
        shutil.rmtree(archive)
    archive.mkdir(parents=True)
    shutil.copy2(zip_path, archive / zip_path.name)
    result = run_nbgrader(
        course,
        "zip_collect",
        assignment,
        "--force",
        "--strict",
        f"--FileNameCollectorPlugin.named_regexp={regexp or default_regexp(notebooks)}",
    )
    log = result.stdout + result.stderr
    extracted = str(course.root / "downloaded" / assignment / "extracted") + os.sep
    skipped = re.findall(r"Skipped submission with no match information provided: (.+)", log)
    skipped += re.findall(r"Skipped notebook with invalid name '(.+?)'", log)
    submitted = course.path(course.submitted)
    copied = [Path(p.strip()) for p in re.findall(r"Copying to: (.+)", log)]
    return CollectResult(
        students=sorted({p.parent.parent.name for p in copied if p.is_relative_to(submitted)}),
        skipped=sorted(s.strip().replace(extracted, "") for s in skipped),
    )


@dataclass
class FeedbackResult:
    """What :func:`feedback` wrote, and what an instructor must know before handing it out."""

    written: list[Path]
    skipped: list[str]
    """``"<student> (<assignment>): why"`` for each submission that got no feedback page."""
    ungraded: list[str]
    """``"<student> (<assignment>/<notebook>): <cells>"`` for written answers not graded by hand yet."""


def _skipped(course: Course, name: str, student: str) -> str | None:
    """Why a submission of ``name`` got no feedback page, or None if every notebook has one."""
    notebooks = course.notebooks(name)
    if all(course.path(course.feedback, student, name, f"{nb}.html").is_file() for nb in notebooks):
        return None
    folder = course.path(course.submitted, student, name)
    for nb in notebooks:
        path = folder / f"{nb}.ipynb"
        if not path.is_file():
            return f"no {nb}.ipynb was submitted (scored zero)"
        if problem := readable_notebook(path):
            return f"{problem} (scored zero)"
    if not all(course.path(course.autograded, student, name, f"{nb}.ipynb").is_file() for nb in notebooks):
        return f"not graded yet: run persistlab autograde {name}"
    return "nbgrader wrote no page for it"


def feedback(course: Course, assignments: Sequence[str]) -> FeedbackResult:
    """Write feedback HTML for every graded submission of one assignment or all.

    Says which submissions got no page and why, and which written answers still wait for grading by hand
    (their page would show 0 points for them). Raises :class:`ClassroomError` if any feedback file shows a
    hidden test line (which happens only if ``nbgrader_config.py`` overrides ``GenerateFeedback.preprocessors``).
    """
    course.chosen(assignments, False, "feedback", one_or_all=True)
    run_nbgrader(course, "generate_feedback", assignments[0] if len(assignments) == 1 else "*", "--force")
    written = sorted(page for name in assignments for page in course.path(course.feedback).glob(f"*/{name}/*.html"))
    leaks = []
    for page in written:
        student, name = page.parent.parent.name, page.parent.name
        graded = course.path(course.autograded, student, name, page.stem + ".ipynb")
        if graded.is_file() and (lines := leaked_lines(page, graded)):
            leaks.append(
                f"{page.relative_to(course.root)}: {lines[0]!r}"
                + (f" and {len(lines) - 1} more" if len(lines) > 1 else "")
            )
    if leaks:
        raise ClassroomError(
            "Feedback shows hidden test source; do not hand it out:\n  " + "\n  ".join(leaks) + "\n"
            "Make sure nbgrader_config.py does not set GenerateFeedback.preprocessors (or keeps "
            "persistlab.classroom.preprocessors.HideHiddenTests last in it)."
        )
    skipped = [
        f"{student} ({name}): {why}"
        for name in sorted(assignments)
        for student in course.students(name)
        if (why := _skipped(course, name, student))
    ]
    ungraded = []
    with course.gradebook() as gb:
        for name in sorted(assignments):
            try:
                submissions = gb.find_assignment(name).submissions
            except Exception:  # nbgrader.api.MissingEntry: not released
                continue
            for submission in sorted(submissions, key=lambda sub: sub.student.id):
                for notebook in submission.notebooks:
                    cells = [g.name for g in notebook.grades if g.needs_manual_grade and g.manual_score is None]
                    if cells:
                        ungraded.append(f"{submission.student.id} ({name}/{notebook.name}): {', '.join(cells)}")
    return FeedbackResult(written, skipped, ungraded)


def exported_assignments(course: Course) -> list[str]:
    """The assignments with at least one submission in the gradebook (collected, or fetched from the exchange):
    the work that was set. Assignments only generated (``release --all``) are left out of the export."""
    with course.gradebook() as gb:
        return sorted(a.name for a in gb.assignments if a.submissions)


def export(course: Course, to: Path, every_assignment: bool = False) -> list[str]:
    """Write the grades to the CSV file ``to`` (nbgrader export), one row per student and assignment.

    Only assignments with submissions (:func:`exported_assignments`) unless ``every_assignment``: nbgrader gives
    every student a zero for every assignment in the gradebook, which an LMS would take for real zeros. A
    ``last_name`` that is only the student id (the formgrader's stand-in when ``students.csv`` has no name) is
    left empty. Returns the assignments exported.
    """
    to = Path(to).resolve()
    to.parent.mkdir(parents=True, exist_ok=True)
    names = course.assignments() if every_assignment else exported_assignments(course)
    if not names:
        raise ClassroomError(
            "No assignment has submissions yet: collect and autograde one first (or --all-assignments)."
        )
    run_nbgrader(course, "export", f"--to={to}", f"--ExportPlugin.assignment={names!r}")
    roster = {}
    if (course.root / ROSTER_FILE).is_file():
        with (course.root / ROSTER_FILE).open(newline="", encoding="utf-8") as f:
            roster = {row.get("id"): row.get("last_name") for row in csv.DictReader(f)}
    with to.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        fields, rows = reader.fieldnames or [], list(reader)
    for row in rows:
        if row.get("last_name") == row.get("student_id") and roster.get(row["student_id"]) != row["last_name"]:
            row["last_name"] = ""
    with to.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return names
