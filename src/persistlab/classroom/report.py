"""A class report after grading: which tests the class fails, why, and how the scores spread.

nbgrader's formgrader shows one submission at a time and averages per question. An instructor who
wants to know which misconception the class holds needs, per test, how many submissions failed it
and the messages they failed with (the test messages name the mistake: "it re-embedded instead of
loading the stored vectors"), and per exercise the distribution of totals. :func:`class_report`
reads them from the gradebook and the autograded notebooks; :func:`format_report` prints them as
tables and :func:`plot_report` draws them (matplotlib, no display needed).

``persistlab report`` runs this after ``persistlab autograde`` (or plain ``nbgrader autograde``).
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from persistlab.classroom.course import Course, answer_errors
from persistlab.tables import format_table

MESSAGE_CHARS = 110
"""Failure messages are cut to this length in tables (:func:`shorten`)."""
PLOT_MESSAGE_CHARS = 80
"""... and to this length beside the plot's bars."""

NOT_ATTEMPTED = "NotImplementedError (answer not written)"
"""What the release's ``raise NotImplementedError()`` is reported as; listed after real mistakes."""


@dataclass
class TestStats:
    """One graded cell across the class."""

    assignment: str
    name: str
    max_score: float
    written: bool
    """A written answer (graded by hand), not a test."""
    graded: int = 0
    failed: int = 0
    """Submissions scoring below full marks on it (for written answers: graded by hand below full marks)."""
    waiting: int = 0
    """Written answers not graded by hand yet."""
    by_hand: int = 0
    """Written answers graded by hand (blank ones are scored zero without it)."""
    messages: Counter[str] = field(default_factory=Counter)

    def common_messages(self, n: int) -> list[tuple[str, int]]:
        """The ``n`` most common failure messages; a tie puts real mistakes before "not attempted"."""
        return sorted(self.messages.items(), key=lambda item: (-item[1], item[0] == NOT_ATTEMPTED, item[0]))[:n]


@dataclass
class ExerciseStats:
    """One assignment across the class."""

    assignment: str
    max_score: float
    scores: dict[str, float] = field(default_factory=dict)
    """``{student: total}``; written answers not yet graded by hand count zero."""
    waiting: int = 0
    """Submissions with a written answer still to grade by hand."""

    @property
    def mean(self) -> float:
        return statistics.fmean(self.scores.values()) if self.scores else 0.0

    @property
    def median(self) -> float:
        return statistics.median(self.scores.values()) if self.scores else 0.0


@dataclass
class ClassReport:
    tests: list[TestStats]
    exercises: list[ExerciseStats]


def shorten(message: str, limit: int = MESSAGE_CHARS) -> str:
    """``message`` cut to ``limit`` characters in the middle: the exception's name stays, and so does the end,
    where the tests' messages say what the mistake was."""
    if len(message) <= limit:
        return message
    name, sep, rest = message.partition(": ")
    head = name + sep if sep and len(name) < limit // 3 else ""
    return head + "..." + (rest if head else message)[-(limit - len(head) - 3) :]


def _messages(notebook: Path) -> dict[str, str]:
    """``{grade_id: first line of the failure}`` for the failed test cells of an autograded notebook."""
    if not notebook.is_file():
        return {}
    out = {}
    cells = json.loads(notebook.read_text(encoding="utf-8")).get("cells", [])
    broken = answer_errors(cells)  # a syntax error makes every later test fail with a NameError: report the cause
    for cell in cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if grade_id and errors:
            line = f"{errors[0].get('ename', '')}: {errors[0].get('evalue', '')}".strip().rstrip(":").split("\n")[0]
            line = NOT_ATTEMPTED if line == "NotImplementedError" else line
            if broken and line.startswith("NameError"):
                line = broken[0].split(" (in ")[0] + " in an answer cell"
            out[grade_id] = shorten(line)
    return out


def class_report(course: Course, assignments: Sequence[str]) -> ClassReport:
    """Statistics of every graded submission of ``assignments`` in the course's gradebook."""
    from nbgrader.api import MissingEntry

    tests: dict[tuple[str, str], TestStats] = {}
    exercises = []
    with course.gradebook() as gb:
        for name in assignments:
            try:
                assignment = gb.find_assignment(name)
            except MissingEntry:
                continue
            if not assignment.submissions:  # released, never collected: nothing to report
                continue
            stats = ExerciseStats(name, float(assignment.max_score))
            for notebook in assignment.notebooks:
                for cell in notebook.grade_cells:
                    tests[name, cell.name] = TestStats(
                        name, cell.name, float(cell.max_score), cell.cell_type == "markdown"
                    )
            for submission in assignment.submissions:
                student = submission.student.id
                stats.scores[student] = float(submission.score)
                stats.waiting += bool(submission.needs_manual_grade)
                for notebook in submission.notebooks:
                    graded_nb = course.path(course.autograded, student, name, f"{notebook.name}.ipynb")
                    messages = _messages(graded_nb)
                    for grade in notebook.grades:
                        test = tests[name, grade.name]
                        if test.written and grade.needs_manual_grade:
                            test.waiting += 1
                            continue
                        test.graded += 1
                        test.by_hand += test.written and grade.manual_score is not None
                        if float(grade.score) < float(grade.max_score):
                            test.failed += 1
                            if grade.name in messages:
                                test.messages[messages[grade.name]] += 1
                            elif test.written:
                                test.messages[
                                    "no answer" if grade.auto_score == 0 else "graded by hand below full marks"
                                ] += 1
                            elif not graded_nb.is_file():
                                test.messages["no gradable notebook (missing or unreadable)"] += 1
            exercises.append(stats)
    return ClassReport(list(tests.values()), exercises)


def _histogram(scores: list[float], top: float, bins: int = 5) -> str:
    """Counts of totals in ``bins`` equal ranges of 0..top, e.g. ``0-2:3 2-4:0 ...``."""
    if not scores or top <= 0:
        return ""
    width = top / bins
    counts = Counter(min(int(s // width), bins - 1) for s in scores)
    return " ".join(f"{i * width:g}-{(i + 1) * width:g}:{counts[i]}" for i in range(bins))


def format_report(report: ClassReport, top_messages: int = 3) -> str:
    """The report as two plain-text tables: tests (most failed first within each exercise), exercises."""
    rows = [("assignment", "test", "failed", "most common failure messages")]
    for test in sorted(report.tests, key=lambda t: (t.assignment, t.written, -t.failed / max(t.graded, 1), t.name)):
        what = "; ".join(f"{count}x {message}" for message, count in test.common_messages(top_messages))
        if test.written and test.waiting:
            what = (f"{test.waiting} to grade by hand" + (f"; {what}" if what else "")).strip()
        rows.append(
            (test.assignment, test.name + (" (written)" if test.written else ""), f"{test.failed}/{test.graded}", what)
        )
    exercise_rows = [("assignment", "submissions", "mean", "median", "max", "to grade by hand", "distribution")]
    for ex in report.exercises:
        scores = list(ex.scores.values())
        exercise_rows.append(
            (
                ex.assignment,
                str(len(scores)),
                f"{ex.mean:.1f}",
                f"{ex.median:g}",
                f"{ex.max_score:g}",
                str(ex.waiting),
                _histogram(scores, ex.max_score),
            )
        )
    return format_table(rows) + "\n\n" + format_table(exercise_rows)


def bar_note(test: TestStats) -> str:
    """The text beside a test's bar in the plot: how many failed it, for a written answer how many were graded by
    hand and how many wait, and its most common failure message."""
    note = f"{test.failed}/{test.graded} failed"
    if test.written:
        note += f"; {test.by_hand} graded by hand" + (f", {test.waiting} waiting" if test.waiting else "")
    common = test.common_messages(1)
    return note + (f"  {shorten(common[0][0], PLOT_MESSAGE_CHARS)}" if common else "")


def plot_report(report: ClassReport, to: Path) -> Path:
    """Draw the report into ``to`` (PNG): per exercise, the share of submissions failing each test, and
    the distribution of totals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    exercises = [ex for ex in report.exercises if ex.scores]
    if not exercises:
        raise ValueError("No graded submissions to plot: run persistlab autograde first.")
    fig, axes = plt.subplots(
        len(exercises),
        2,
        figsize=(13, 2.6 + 1.9 * len(exercises)),
        squeeze=False,
        gridspec_kw={"width_ratios": [2.2, 1]},
    )
    for row, ex in zip(axes, exercises):
        tests = [t for t in report.tests if t.assignment == ex.assignment]
        shares = [t.failed / t.graded if t.graded else 0.0 for t in tests]
        labels = [t.name + (" (written)" if t.written else "") for t in tests]
        bars = row[0].barh(labels, shares, color=["#b0b0b0" if t.written else "#c0504d" for t in tests])
        for bar, test in zip(bars, tests):
            note = bar_note(test)
            row[0].text(0.01, bar.get_y() + bar.get_height() / 2, note, va="center", fontsize=7)
        row[0].set_xlim(0, 1)
        row[0].invert_yaxis()
        row[0].set_title(f"{ex.assignment}: share of submissions failing each test", fontsize=9)
        row[0].tick_params(labelsize=8)
        scores = list(ex.scores.values())
        row[1].hist(scores, bins=[i * ex.max_score / 10 for i in range(11)], color="#4f81bd", edgecolor="white")
        row[1].set_xlim(0, ex.max_score)
        row[1].set_xlabel("total points", fontsize=8)
        row[1].yaxis.get_major_locator().set_params(integer=True)
        row[1].set_title(
            f"totals (max {ex.max_score:g}, median {ex.median:g}"
            + (f", {ex.waiting} wait for hand grading)" if ex.waiting else ")"),
            fontsize=9,
        )
        row[1].tick_params(labelsize=8)
    fig.tight_layout()
    to = Path(to)
    to.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(to, dpi=110)
    plt.close(fig)
    return to
