"""An nbgrader course folder: where it is, the folder names its ``nbgrader_config.py`` sets, its gradebook."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from persistlab.config import find_upwards

CONFIG_FILE = "nbgrader_config.py"
ROSTER_FILE = "students.csv"
"""Optional roster in the course folder, nbgrader's format (``id,first_name,last_name,email``): the
names the formgrader shows. Students not in it are listed by their id."""

SQLITE_BUSY_TIMEOUT_S = 60
"""How long a grading process waits for another one's gradebook write (SQLite's busy timeout)."""


class ClassroomError(RuntimeError):
    """A grading command cannot go on; the message names the file or value and the fix."""


def readable_notebook(path: Path) -> str | None:
    """None if ``path`` is a notebook nbgrader can read, else why not."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        return f"{path.name} is not a notebook ({type(err).__name__}: {err})"
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list) or data.get("nbformat") != 4:
        return f"{path.name} is not an nbformat 4 notebook"
    return None


_WHERE = re.compile(r"\s*\((?:[^()]*\.py|<[^>]*>), line (\d+)\)$")


def answer_errors(cells: Sequence[Any]) -> list[str]:
    """What went wrong in the cells of a run notebook (JSON cells) that are not tests: a syntax error as one, with
    the cell, its line and the code there, so a learner sees it rather than the ``NameError`` of every test after it.
    """
    found = []
    for index, cell in enumerate(cells):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("cell_type") != "code" or meta.get("grade"):
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") != "error" or output.get("ename") not in ("SyntaxError", "IndentationError"):
                continue
            where = meta.get("grade_id") or f"cell {index}"
            message = str(output.get("evalue", ""))
            match = _WHERE.search(message)
            if match:
                message = message[: match.start()]
                lines = "".join(cell.get("source", "")).splitlines()
                number = int(match.group(1))
                code = lines[number - 1].strip() if 0 < number <= len(lines) else ""
                where += f", line {number}" + (f": {code}" if code else "")
            found.append(f"{output['ename']}: {message} (in {where})")
    return found


@dataclass(frozen=True)
class Course:
    """An nbgrader course folder and the folder names its ``nbgrader_config.py`` sets."""

    root: Path
    source: str = "source"
    release: str = "release"
    submitted: str = "submitted"
    autograded: str = "autograded"
    feedback: str = "feedback"
    db_url: str = ""
    course_id: str = ""

    @classmethod
    def find(cls, start: Path | None = None) -> Course:
        """The course whose ``nbgrader_config.py`` is in ``start`` (default: cwd) or a folder above it."""
        here = Path(start or Path.cwd()).resolve()
        found = find_upwards(CONFIG_FILE, here)
        if found is not None:
            return cls.load(found)
        raise ClassroomError(
            f"No {CONFIG_FILE} in {here} or any folder above it. Run this command inside the course folder "
            "(the one holding nbgrader_config.py, solutions/ and exercises/)."
        )

    @classmethod
    def load(cls, root: Path) -> Course:
        """Read the folder names and database from ``root/nbgrader_config.py``."""
        from traitlets.config.loader import PyFileConfigLoader

        root = Path(root).resolve()
        try:
            config = PyFileConfigLoader(CONFIG_FILE, path=str(root)).load_config()
        except Exception as err:
            raise ClassroomError(f"Cannot read {root / CONFIG_FILE}: {type(err).__name__}: {err}") from err
        folders = config.CourseDirectory if "CourseDirectory" in config else {}
        names = {
            field_name: str(folders[trait])
            for field_name, trait in (
                ("source", "source_directory"),
                ("release", "release_directory"),
                ("submitted", "submitted_directory"),
                ("autograded", "autograded_directory"),
                ("feedback", "feedback_directory"),
                ("course_id", "course_id"),
            )
            if trait in folders
        }
        db_url = str(folders.get("db_url", "")) or f"sqlite:///{root / 'gradebook.db'}"
        relative = re.match(r"sqlite:///(?!/)(.+)$", db_url)
        if relative:  # nbgrader resolves it from the working directory; these commands work in root
            db_url = f"sqlite:///{root / relative.group(1)}"
        return cls(root=root, db_url=db_url, **names)

    def path(self, folder: str, *parts: str) -> Path:
        """A path inside one of the course's folders, e.g. ``course.path(course.submitted, "ada")``."""
        return self.root.joinpath(folder, *parts)

    def assignments(self) -> list[str]:
        """Names of the assignments in the source folder (sub-folders holding a notebook)."""
        source = self.path(self.source)
        if not source.is_dir():
            return []
        return sorted(p.name for p in source.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))

    def notebooks(self, assignment: str) -> list[str]:
        """Names (stems) of the notebooks of ``assignment``, from its source folder."""
        self.require_assignment(assignment)
        return sorted(p.stem for p in self.path(self.source, assignment).glob("*.ipynb"))

    def require_assignment(self, assignment: str) -> None:
        """Raise :class:`ClassroomError` unless ``assignment`` is in the source folder."""
        known = self.assignments()
        if assignment not in known:
            raise ClassroomError(
                f"No assignment {assignment!r} in {self.path(self.source)}. "
                f"Known assignments: {', '.join(known) or 'none'}."
            )

    def students(self, assignment: str) -> list[str]:
        """Students with a folder ``submitted/<student>/<assignment>/``, sorted."""
        submitted = self.path(self.submitted)
        if not submitted.is_dir():
            return []
        return sorted(p.name for p in submitted.iterdir() if (p / assignment).is_dir())

    def gradebook_url(self) -> str:
        """The database URL with a busy timeout, so parallel graders wait for each other's writes."""
        if self.db_url.startswith("sqlite:") and "timeout=" not in self.db_url:
            return f"{self.db_url}{'&' if '?' in self.db_url else '?'}timeout={SQLITE_BUSY_TIMEOUT_S}"
        return self.db_url

    def gradebook(self) -> Any:
        """An ``nbgrader.api.Gradebook`` on the course database (close it, or use ``with``)."""
        from nbgrader.api import Gradebook

        return Gradebook(self.gradebook_url(), self.course_id or "default_course")

    def knows(self, assignment: str) -> bool:
        """Whether the gradebook has ``assignment`` (it was released)."""
        path = Path(self.db_url.removeprefix("sqlite:///").split("?")[0])
        if not path.is_file():
            return False
        from nbgrader.api import MissingEntry

        with self.gradebook() as gb:
            try:
                gb.find_assignment(assignment)
            except MissingEntry:
                return False
        return True

    def chosen(self, names: Sequence[str], everything: bool, command: str, one_or_all: bool = False) -> list[str]:
        """The assignments a command works on: every one with ``everything`` (``--all``), else ``names``.

        Raises :class:`ClassroomError` if there are none, if one is not in the source folder, or
        (``one_or_all``: commands that run nbgrader once) if ``names`` is more than one but not all.
        """
        chosen = self.assignments() if everything else list(names)
        if not chosen:
            raise ClassroomError("name an assignment or use --all")
        for name in chosen:
            self.require_assignment(name)
        if one_or_all and len(chosen) != 1 and sorted(chosen) != self.assignments():
            raise ClassroomError(f"{command} works on one assignment or all of them, not {', '.join(chosen)}.")
        return chosen
