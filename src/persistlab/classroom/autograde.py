"""``persistlab autograde``: ``nbgrader autograde`` for every submission of an assignment, in parallel batches of
students (nbgrader grades one notebook at a time, issue #174). A broken submission costs only its own points: see
:func:`autograde`. Imports nothing heavy at load time."""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from persistlab.classroom.course import ClassroomError, Course, answer_errors, readable_notebook
from persistlab.classroom.cycle import STUDENT_ID, run_nbgrader
from persistlab.classroom.graded_env import PROBLEM_ENAMES, graded_code_env


@dataclass
class Graded:
    """One student's result for one assignment after :func:`autograde`."""

    assignment: str
    student: str
    status: str
    """``graded``; ``missing`` (no notebook), ``unreadable`` (not a notebook): both scored zero;
    or ``failed`` (nbgrader could not grade it: see ``log``)."""
    score: float = 0.0
    max_score: float = 0.0
    by_hand: float = 0.0
    """Points of written answers that wait for grading by hand (in the formgrader): not in ``score`` yet."""
    notes: list[str] = field(default_factory=list)
    log: str = ""


def _check_student_ids(course: Course, students: Iterable[str]) -> None:
    bad = sorted(s for s in set(students) if not STUDENT_ID.fullmatch(s))
    if bad:
        raise ClassroomError(
            f"Student folder name(s) nbgrader cannot handle in {course.path(course.submitted)}: {', '.join(map(repr, bad))}. "
            "Rename them to letters, digits and _ . @ + - only (no commas, spaces or *?[)."
        )


def _batches(students: Sequence[str], jobs: int) -> list[list[str]]:
    """One batch per nbgrader process: ``2 * jobs`` of them when parallel (few start-ups of ~5 s, yet
    no worker left idle behind one slow batch), a single one when serial."""
    count = 1 if jobs == 1 else min(len(students), 2 * jobs)
    return [list(students[i::count]) for i in range(count)]


def _zero(course: Course, assignment: str, student: str) -> None:
    """Give a student zero on every notebook of ``assignment``, as nbgrader does for a missing notebook."""
    from sqlalchemy.exc import SAWarning

    # nbgrader's update_or_create_submission makes SQLAlchemy warn about its own session ("not in session"):
    # nothing the instructor can act on, and the zeros are written all the same.
    with course.gradebook() as gb, warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)
        gb.update_or_create_student(student)
        gb.update_or_create_submission(assignment, student)
        for notebook in gb.find_assignment(assignment).notebooks:
            submission = gb.find_submission_notebook(notebook.name, assignment, student)
            for grade in submission.grades:
                grade.auto_score = 0
                grade.needs_manual_grade = False
        gb.db.commit()


def _notes(autograded: Path) -> list[str]:
    """What went wrong while running a graded notebook: timeouts, a dead kernel, restored test cells."""
    notes: list[str] = []
    for path in sorted(autograded.glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
        not_run = 0
        for index, cell in enumerate(cells):
            source = "".join(cell.get("source", ""))
            if "was missing from the submission. It was added back by nbgrader" in source:
                grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", f"cell {index}")
                notes.append(f"{grade_id} was deleted and restored")
            for output in cell.get("outputs", []):
                what = PROBLEM_ENAMES.get(output.get("ename", ""))
                if what == "not run":
                    not_run += 1
                elif what:
                    notes.append(f"{what} in cell {index}")
        if not_run:
            notes.append(f"{not_run} later cell(s) not run")
        notes += answer_errors(cells)
    return notes


def autograde(
    course: Course,
    assignments: Sequence[str],
    jobs: int = 2,
    timeout: int | None = None,
    progress: Callable[[str], None] | None = None,
    students: Sequence[str] = (),
) -> list[Graded]:
    """Grade every submission of one assignment, or of all of them; one result per submission.

    ``assignments`` is one name or every assignment of the course. Students are graded in
    batches, ``jobs`` nbgrader processes at a time; the processes share the SQLite gradebook, each
    write waiting for the others (busy timeout), and fork their kernels from one zygote
    (:func:`persistlab.classroom.kernels.shared_zygote`). ``timeout`` is the limit per cell in seconds
    (``ExecutePreprocessor.timeout``; default: the course's nbgrader_config.py, else 30).
    ``students``, if given, grades only those students' submissions (e.g. one late hand-in).

    A broken submission never stops the others: an endless cell is interrupted at the time limit
    and the rest of the notebook runs; a cell that ignores the interrupt or kills the kernel
    scores zero with every cell after it; deleted or edited test cells are restored from the
    gradebook; a missing or unreadable notebook scores zero. A submission nbgrader still could not
    grade is retried once on its own, then reported as ``failed`` with nbgrader's log.
    """
    if jobs < 1:
        raise ClassroomError(f"--jobs must be at least 1, got {jobs}.")
    if timeout is not None and timeout < 1:
        raise ClassroomError(f"--timeout must be at least 1 second, got {timeout}.")
    course.chosen(assignments, False, "autograde", one_or_all=True)
    notebooks = {name: course.notebooks(name) for name in assignments}
    missing_db = [name for name in assignments if not course.knows(name)]
    if missing_db:
        raise ClassroomError(
            f"{', '.join(missing_db)} not in the gradebook yet: run 'persistlab release {missing_db[0]}' first."
        )
    say = progress or (lambda message: None)
    pairs = [(name, student) for name in sorted(assignments) for student in course.students(name)]
    if students:
        unknown = sorted(set(students) - {student for _, student in pairs})
        if unknown:
            raise ClassroomError(
                f"No submission of {', '.join(assignments)} by {', '.join(unknown)} in "
                f"{course.path(course.submitted)}: check the student id (its folder's name)."
            )
        pairs = [(name, student) for name, student in pairs if student in students]
    if not pairs:
        raise ClassroomError(
            f"No submissions: expected folders {course.path(course.submitted, '<student>', assignments[0])}. "
            f"Collect them first: persistlab collect <zip> {assignments[0]}."
        )
    submitted = course.path(course.submitted)
    everyone = sorted(p.name for p in submitted.iterdir() if p.is_dir())
    _check_student_ids(course, everyone)

    results: dict[tuple[str, str], Graded] = {}
    gradable: list[tuple[str, str]] = []
    for name, student in pairs:
        folder = course.path(course.submitted, student, name)
        problems = []
        for notebook in notebooks[name]:
            path = folder / f"{notebook}.ipynb"
            problem = readable_notebook(path) if path.is_file() else f"no {notebook}.ipynb was submitted"
            if problem:
                problems.append(problem)
        if problems:
            status = "missing" if all(p.startswith("no ") for p in problems) else "unreadable"
            results[name, student] = Graded(name, student, status, notes=problems)
        else:
            gradable.append((name, student))

    options = ["--force"] + ([f"--ExecutePreprocessor.timeout={timeout}"] if timeout else [])

    def grade(assignment: str, batch: list[str]) -> str:
        others = ",".join(s for s in everyone if s not in batch)
        result = run_nbgrader(
            course,
            "autograde",
            assignment,
            *options,
            f"--CourseDirectory.student_id_exclude={others}",
            check=False,
            env=zygote_env,
        )
        say(f"graded {', '.join(batch)}")
        return result.stdout + result.stderr

    def done(assignment: str, student: str) -> bool:
        folder = course.path(course.autograded, student, assignment)
        return all((folder / f"{nb}.ipynb").is_file() for nb in notebooks[assignment])

    from persistlab.classroom.kernels import shared_zygote

    logs: dict[str, str] = {}
    to_grade = sorted({student for _, student in gradable})
    # Every nbgrader process forks its kernels from one zygote, instead of starting its own.
    zygote: AbstractContextManager[dict[str, str]] = shared_zygote(graded_code_env()) if gradable else nullcontext({})
    with zygote as zygote_env:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            batches = _batches(to_grade, jobs)
            target = "*" if len(assignments) > 1 else assignments[0]
            for batch, log in zip(batches, pool.map(lambda b: grade(target, b), batches)):
                logs.update(dict.fromkeys(batch, log))
        for name, student in gradable:
            if not done(name, student):
                say(f"retrying {student} ({name}) alone")
                logs[student] = grade(name, [student])

    for name, student in results:  # scored zero: drop any grading of an older submission
        stale = course.path(course.autograded, student, name)
        if stale.exists():
            shutil.rmtree(stale)
        _zero(course, name, student)

    with course.gradebook() as gb:
        for name, student in pairs:
            graded = results.setdefault((name, student), Graded(name, student, "graded"))
            if graded.status == "graded" and not done(name, student):
                graded.status, graded.log = "failed", logs.get(student, "")
                graded.notes.append("nbgrader could not grade it: see the log")
            elif graded.status == "graded":
                graded.notes += _notes(course.path(course.autograded, student, name))
            try:
                submission = gb.find_submission(name, student)
                graded.score, graded.max_score = float(submission.score), float(submission.max_score)
                graded.by_hand = sum(
                    float(grade.max_score)
                    for notebook in submission.notebooks
                    for grade in notebook.grades
                    if grade.needs_manual_grade and grade.manual_score is None
                )
                lost = [
                    f"{grade.name} {float(grade.score):g}/{float(grade.max_score):g}"
                    for notebook in submission.notebooks
                    for grade in notebook.grades
                    if not grade.needs_manual_grade and float(grade.score) < float(grade.max_score)
                ]
                if lost and graded.status == "graded" and not graded.notes:  # else the notes say why
                    graded.notes.append("lost points on " + ", ".join(lost))
            except Exception:  # nbgrader.api.MissingEntry: never graded
                graded.max_score = float(gb.find_assignment(name).max_score)
    return [results[pair] for pair in pairs]
