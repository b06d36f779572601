"""What a quiz is made of and the checks it must pass: choices, ids, and the quiz files that hold them."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from string import ascii_lowercase
from typing import Any

from persistlab.learning.progress import QUIZ_DIR

KINDS = ("single", "multiple", "free")
ID_PATTERN = re.compile(r"[A-Za-z0-9_.:-]+")


@dataclass(frozen=True)
class Choice:
    """One option of a choice question; ``why`` says why it is right or wrong.

    Feedback already starts with "right." or "wrong.", so ``why`` need not repeat it. Keep ``text``
    short and plain: the widget shows it on one line, without Markdown.
    """

    text: str
    correct: bool = False
    why: str = ""


def check_question(
    quiz_id: Any, question: Any, kind: Any, choices: Sequence[Any], model_answer: Any, hint: Any
) -> None:
    """``ValueError`` naming the quiz and the fix unless these make a valid question."""
    if not isinstance(quiz_id, str) or not ID_PATTERN.fullmatch(quiz_id):
        raise ValueError(
            f"Quiz id {quiz_id!r} is not valid: use letters, digits and _ . : - only, "
            "e.g. '01_why_persist:q1' (notebook stem, colon, question name)."
        )
    where = f"Quiz {quiz_id!r}"
    if kind not in KINDS:
        raise ValueError(f"{where}: kind must be one of {', '.join(KINDS)}, got {kind!r}.")
    if not isinstance(question, str) or not question.strip():
        raise ValueError(f"{where}: the question text is empty.")
    if hint is not None and not isinstance(hint, str):
        raise ValueError(f"{where}: hint must be text, got {hint!r}.")
    if kind == "free":
        if not isinstance(model_answer, str) or not model_answer.strip():
            raise ValueError(f"{where}: a free-answer question needs model_answer='...'.")
        if choices:
            raise ValueError(f"{where}: a free-answer question takes no choices.")
        return
    if not 2 <= len(choices) <= len(ascii_lowercase):
        raise ValueError(f"{where}: give between 2 and 26 choices, got {len(choices)}.")
    for choice in choices:
        if not isinstance(choice, Choice):
            raise ValueError(f"{where}: choices must be Choice(...) objects, got {choice!r}.")
        if not isinstance(choice.text, str) or not choice.text.strip() or not isinstance(choice.correct, bool):
            raise ValueError(f"{where}: {choice!r} needs non-empty text and correct=True or False.")
        if not isinstance(choice.why, str) or not choice.why.strip():
            raise ValueError(f"{where}: choice {choice.text!r} has no why=...; say why it is right or wrong.")
    texts = [c.text for c in choices]
    if len(set(texts)) != len(texts):
        raise ValueError(f"{where}: two choices have the same text.")
    right = sum(c.correct for c in choices)
    if kind == "single" and right != 1:
        raise ValueError(f"{where}: a single-choice question needs exactly one correct=True choice, got {right}.")
    if kind == "multiple" and right == 0:
        raise ValueError(f"{where}: a multiple-choice question needs at least one correct=True choice.")


def question_fields(item: Any) -> dict[str, Any]:
    """The ``Quiz(...)`` arguments of one question written as JSON-like data (see ``Quiz.from_dict``);
    ``ValueError`` if its shape is wrong (its content is checked by :func:`check_question`)."""
    if not isinstance(item, dict):
        raise ValueError(f"expected an object with id, type and question, got {item!r}")
    kind = item.get("type")
    if kind not in KINDS:
        raise ValueError(f'"type" must be one of {", ".join(KINDS)}, got {kind!r}')
    allowed = {"id", "type", "question", "hint"} | ({"model_answer"} if kind == "free" else {"choices"})
    if unknown := sorted(set(item) - allowed):
        takes = ", ".join(sorted(allowed))
        raise ValueError(f"unknown key(s) {', '.join(unknown)}; a {kind} question takes {takes}")
    choices = []
    for choice in item.get("choices") or []:
        if not isinstance(choice, dict) or set(choice) - {"text", "correct", "why"}:
            raise ValueError(f"each choice is an object with text, correct and why, got {choice!r}")
        choices.append(Choice(**choice))
    return {
        "quiz_id": item.get("id"),
        "question": item.get("question"),
        "kind": kind,
        "choices": choices,
        "model_answer": item.get("model_answer"),
        "hint": item.get("hint"),
    }


def installed_quiz_file(path: Path) -> Path | None:
    """The course's own copy of the quiz file ``.../quizzes/<name>.json``, found from where the ``persistlab``
    package is (a clone installed with ``pip install -e``): for a notebook run outside the clone (Colab, a
    JupyterHub home folder), whose folder has no ``quizzes/``."""
    from persistlab.config import course_root

    root = course_root(Path(__file__).resolve().parent)
    if path.parent.name != QUIZ_DIR or root is None:
        return None
    candidates = [root / "lessons" / QUIZ_DIR / path.name, *sorted(root.glob(f"exercises/*/{QUIZ_DIR}/{path.name}"))]
    return next((c for c in candidates if c.is_file()), None)


def read_questions(path: str | Path) -> list[Any]:
    """The JSON list of a quiz file, with its ids checked to be unique; errors name the file and the fix.

    A quiz file missing beside the notebook is read from the installed course (:func:`installed_quiz_file`).
    """
    path = Path(path)
    if not path.is_file():
        path = installed_quiz_file(path) or path
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(
            f"Quiz file {path} not found (relative paths start at {Path.cwd()}); a notebook's quiz file is "
            f"{QUIZ_DIR}/<notebook stem>.json beside the notebook."
        ) from None
    except json.JSONDecodeError as err:
        raise ValueError(f"Quiz file {path} is not valid JSON: {err}") from None
    if not isinstance(data, list):
        raise ValueError(f"Quiz file {path} must hold a JSON list of questions, not a {type(data).__name__}.")
    ids = [item.get("id") for item in data if isinstance(item, dict)]
    if duplicates := sorted({str(i) for i in ids if ids.count(i) > 1}):
        raise ValueError(f"Quiz file {path}: ids must be unique, repeated: {', '.join(duplicates)}.")
    return data
