"""Learner progress: which quizzes were answered, self-check scores, and a progress bar for long work.

Progress lives in one small JSON file, by default ``.progress.json`` in the course folder (the folder
holding ``lessons/``, found by walking up from the current directory). Set ``PERSISTLAB_PROGRESS_FILE``
to use another file. The file is private to the learner and gitignored.

How quizzes are matched to notebooks: a notebook's questions live in its quiz file,
``quizzes/<notebook stem>.json`` beside it (see :func:`quiz_file`), and the notebook shows them with
``Quiz.show("<stem>:<name>")``. :func:`status_table` reads the ids from that file, never from the
notebook's code, so it counts the same quizzes however the notebook imports ``Quiz``. Ids start with
the notebook stem, which keeps them unique across the course: progress is keyed by id alone.

Exercise self-checks call ``record_exercise(<notebook stem>, score, max_score)``.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import sys
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from persistlab.atomic import write_atomically
from persistlab.config import NO_PROGRESS_BAR_ENV, PROGRESS_FILE_ENV, course_root
from persistlab.tables import format_table

FILE_NAME = ".progress.json"
VERSION = 1


@dataclass(frozen=True)
class QuizRecord:
    """The latest answer to one quiz. ``correct`` is None for free answers (not checked by machine)."""

    correct: bool | None
    time: str
    attempts: int = 1


@dataclass(frozen=True)
class ExerciseRecord:
    """The latest self-check result of one exercise notebook."""

    score: float
    max_score: float
    time: str


@dataclass
class Progress:
    """Everything recorded so far, keyed by quiz id and exercise name."""

    quizzes: dict[str, QuizRecord] = field(default_factory=dict)
    exercises: dict[str, ExerciseRecord] = field(default_factory=dict)


# --- where the file lives -------------------------------------------------------------------


def progress_file() -> Path:
    """``$PERSISTLAB_PROGRESS_FILE``, else ``<course root>/.progress.json``, else ``./.progress.json``."""
    override = os.environ.get(PROGRESS_FILE_ENV)
    if override:
        return Path(override).expanduser()
    return (course_root() or Path.cwd()) / FILE_NAME


# --- reading and writing --------------------------------------------------------------------


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _parse(data: Any) -> Progress:
    """Turn the file's JSON into a Progress; ValueError if it is not our format."""
    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise ValueError(f'expected an object with "version": {VERSION}')
    quizzes, exercises = data.get("quizzes", {}), data.get("exercises", {})
    if not isinstance(quizzes, dict) or not isinstance(exercises, dict):
        raise ValueError('"quizzes" and "exercises" must be objects')
    if any(not isinstance(v, dict) or not isinstance(v.get("correct"), (bool, type(None))) for v in quizzes.values()):
        raise ValueError('every quiz record needs "correct": true, false or null')
    try:
        return Progress(
            quizzes={
                str(k): QuizRecord(correct=v["correct"], time=str(v["time"]), attempts=int(v["attempts"]))
                for k, v in quizzes.items()
            },
            exercises={
                str(k): ExerciseRecord(score=float(v["score"]), max_score=float(v["max_score"]), time=str(v["time"]))
                for k, v in exercises.items()
            },
        )
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"malformed record ({type(err).__name__}: {err})") from err


def load(path: Path | None = None) -> Progress:
    """Read the progress file. Missing file: empty progress. Corrupt file: warn, move it aside, start fresh."""
    path = Path(path) if path is not None else progress_file()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Progress()
    except (OSError, UnicodeDecodeError) as err:
        warnings.warn(f"Cannot read progress file {path} ({err}); showing no progress.", stacklevel=2)
        return Progress()
    if not text.strip():
        return Progress()
    try:
        return _parse(json.loads(text))
    except ValueError as err:  # json.JSONDecodeError is a ValueError
        backup = path.with_name(path.name + ".bak")
        if path.is_file():
            with contextlib.suppress(OSError):
                os.replace(path, backup)
        warnings.warn(
            f"Progress file {path} is not valid ({err}). Moved it to {backup} and started fresh; "
            "delete the backup once you no longer need it.",
            stacklevel=2,
        )
        return Progress()


def _to_json(progress: Progress) -> dict[str, Any]:
    return {
        "version": VERSION,
        "quizzes": {
            k: {"correct": r.correct, "time": r.time, "attempts": r.attempts}
            for k, r in sorted(progress.quizzes.items())
        },
        "exercises": {
            k: {"score": r.score, "max_score": r.max_score, "time": r.time}
            for k, r in sorted(progress.exercises.items())
        },
    }


def save(progress: Progress, path: Path | None = None) -> None:
    """Write atomically: a temporary file in the same folder, then ``os.replace``."""
    path = Path(path) if path is not None else progress_file()
    if path.exists() and not path.is_file():
        raise OSError(f"{path} is not a regular file; set {PROGRESS_FILE_ENV} to a file path")
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(_to_json(progress), indent=2) + "\n"
    write_atomically(path, lambda f: f.write(text.encode("utf-8")), durable=True)


def _update(change: Any) -> None:
    """Load, apply ``change(progress)``, save; a failed write warns instead of breaking the lesson."""
    path = progress_file()
    progress = load(path)
    change(progress)
    try:
        save(progress, path)
    except OSError as err:
        warnings.warn(f"Could not save progress to {path} ({err}); your answer still counts here.", stacklevel=3)


def record_quiz(quiz_id: str, correct: bool | None) -> None:
    """Record an answer to quiz ``quiz_id``; ``correct`` is None for free answers."""
    if not isinstance(quiz_id, str) or not quiz_id:
        raise ValueError(f"quiz_id must be a non-empty string, got {quiz_id!r}")
    if correct is not None and not isinstance(correct, bool):
        raise ValueError(f"correct must be True, False or None, got {correct!r}")

    def change(p: Progress) -> None:
        before = p.quizzes.get(quiz_id)
        p.quizzes[quiz_id] = QuizRecord(correct, _now(), (before.attempts if before else 0) + 1)

    _update(change)


def record_exercise(name: str, score: float, max_score: float) -> None:
    """Record the self-check result of exercise notebook ``name`` (its file stem)."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"exercise name must be a non-empty string (the notebook stem), got {name!r}")
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (score, max_score))
    if not numbers or not max_score > 0 or not 0 <= score <= max_score:
        raise ValueError(f"need 0 <= score <= max_score and max_score > 0, got {score=}, {max_score=}")

    def change(p: Progress) -> None:
        p.exercises[name] = ExerciseRecord(float(score), float(max_score), _now())

    _update(change)


# --- which quizzes each notebook has ----------------------------------------------------------

QUIZ_DIR = "quizzes"
"""The folder, beside the notebooks, that holds one quiz file per notebook."""


def quiz_file(notebook: Path) -> Path:
    """The quiz file of ``notebook``: ``<its folder>/quizzes/<its stem>.json``."""
    notebook = Path(notebook)
    return notebook.parent / QUIZ_DIR / f"{notebook.stem}.json"


def quiz_ids(notebook: Path) -> list[str]:
    """Ids of the notebook's quizzes, in order, read from its quiz file; [] if it has none."""
    path = quiz_file(notebook)
    if not path.is_file():
        return []
    try:
        questions = json.loads(path.read_text(encoding="utf-8"))
        ids = [q["id"] for q in questions if isinstance(q, dict) and isinstance(q.get("id"), str)]
    except (OSError, ValueError, TypeError) as err:
        warnings.warn(f"Cannot read quiz ids from {path} ({err}); its quizzes are not counted.", stacklevel=2)
        return []
    return list(dict.fromkeys(ids))


# --- the status table -------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusRow:
    """One notebook's progress."""

    kind: str  # "lesson" or "exercise"
    name: str  # notebook stem
    quizzes: int
    answered: int
    correct: int
    score: float | None = None
    max_score: float | None = None

    @property
    def status(self) -> str:
        if self.kind == "lesson" and self.quizzes == 0:
            return "no quiz"
        if self.answered == 0 and self.score is None:
            return "not started"
        if self.answered == self.quizzes and (self.kind != "exercise" or self.score is not None):
            return "done"
        return "in progress"

    @property
    def self_check(self) -> str:
        if self.score is None or self.max_score is None:
            return "-"
        return f"{self.score:g}/{self.max_score:g}"


def _notebooks(folder: Path | None) -> list[Path]:
    if folder is None or not Path(folder).is_dir():
        return []
    return sorted(p for p in Path(folder).rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def status_table(
    lessons_dir: Path | None = None,
    exercises_dir: Path | None = None,
    progress: Progress | None = None,
) -> list[StatusRow]:
    """One row per lesson and exercise notebook (sorted by path), from ``progress`` (default: the file)."""
    root = course_root()
    if lessons_dir is None and root is not None:
        lessons_dir = root / "lessons"
    if exercises_dir is None and root is not None:
        exercises_dir = root / "exercises"
    progress = progress if progress is not None else load()
    rows = []
    for kind, folder in (("lesson", lessons_dir), ("exercise", exercises_dir)):
        for notebook in _notebooks(folder):
            ids = quiz_ids(notebook)
            records = [progress.quizzes[i] for i in ids if i in progress.quizzes]
            exercise = progress.exercises.get(notebook.stem) if kind == "exercise" else None
            rows.append(
                StatusRow(
                    kind=kind,
                    name=notebook.stem,
                    quizzes=len(ids),
                    answered=len(records),
                    correct=sum(r.correct is True for r in records),
                    score=exercise.score if exercise else None,
                    max_score=exercise.max_score if exercise else None,
                )
            )
    return rows


_COLUMNS = ("Kind", "Notebook", "Quizzes answered", "Correct", "Self-check", "Status")


def _cells(row: StatusRow) -> tuple[str, ...]:
    answered = f"{row.answered}/{row.quizzes}" if row.quizzes else "-"
    correct = str(row.correct) if row.quizzes else "-"
    return (row.kind, row.name, answered, correct, row.self_check, row.status)


class ProgressReport:
    """The status table, shown as HTML in Jupyter and as aligned text elsewhere."""

    def __init__(self, rows: list[StatusRow]):
        self.rows = rows

    def __repr__(self) -> str:
        if not self.rows:
            return "No lessons or exercises found."
        return format_table([_COLUMNS, *(_cells(r) for r in self.rows)])

    def _repr_html_(self) -> str:
        if not self.rows:
            return "<p>No lessons or exercises found.</p>"
        head = "".join(f"<th>{html.escape(c)}</th>" for c in _COLUMNS)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in _cells(r)) + "</tr>" for r in self.rows)
        return f'<table class="persistlab-progress"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def show_progress(lessons_dir: Path | None = None, exercises_dir: Path | None = None) -> ProgressReport:
    """The learner's progress through the course, for the start-here notebook."""
    return ProgressReport(status_table(lessons_dir, exercises_dir))


# --- progress bar for long work -------------------------------------------------------------


def _interactive() -> bool:
    if os.environ.get(NO_PROGRESS_BAR_ENV) == "1":
        return False
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is not None and getattr(shell, "kernel", None) is not None:
        return True  # a Jupyter kernel
    return sys.stderr is not None and sys.stderr.isatty()


def progress_bar(
    iterable: Iterable[Any] | None = None, total: int | None = None, desc: str | None = None, **kwargs: Any
) -> Any:
    """``tqdm.auto.tqdm``, switched off outside Jupyter/terminals and when ``PERSISTLAB_NO_PROGRESS=1``."""
    from tqdm.auto import tqdm

    kwargs.setdefault("disable", not _interactive())
    return tqdm(iterable, total=total, desc=desc, **kwargs)
