"""Quizzes kept out of the notebook's code: single choice, multiple choice and free answer.

A notebook's questions, with their right answers and explanations, live in its quiz file,
``quizzes/<notebook stem>.json`` beside the notebook (a JSON list; see :meth:`Quiz.from_dict`)::

    [{"id": "01_why_persist:q1", "type": "single", "question": "What does `persist()` write?",
      "choices": [{"text": "Only the vectors", "correct": false, "why": "The docstore is written too."},
                  {"text": "Docstore, index store and vector stores", "correct": true, "why": "One file each."}],
      "hint": "Open the persist folder."}]

and the notebook cell holds one call, so nothing of the answer is on screen before the learner checks::

    from persistlab.learning.quiz import Quiz

    Quiz.show("01_why_persist:q1")

The part of the id before ``:`` names the quiz file. In Jupyter the quiz is a widget: pick, press
*Check*, read why each option is right or wrong. Where no widget can run (GitHub, nbconvert HTML, a
terminal) the same output shows the question and lettered options as text, with the answers folded
away. ``quiz.answer(["b"])`` checks an answer without a front end; the *Check* button runs the same
code. Every checked answer is recorded in the learner's progress file (see :mod:`persistlab.learning.progress`,
which reads the quiz ids from the same files) under the quiz id, so keep ids stable and unique.
``Quiz.single/multiple/free`` build a question in code (for tests and experiments).

DOM hooks for browser tests (CSS classes): ``persistlab-quiz`` (the whole quiz, plus
``persistlab-quiz-<kind>`` and ``persistlab-quiz-id-<id with . and : as ->``), ``persistlab-quiz-question``,
``persistlab-quiz-options`` (radio group or checkbox column; checkboxes are ``persistlab-quiz-option``),
``persistlab-quiz-answer`` (free-answer text area), ``persistlab-quiz-check`` (button),
``persistlab-quiz-hint`` (button), ``persistlab-quiz-hint-text``, ``persistlab-quiz-feedback`` (gets
``persistlab-quiz-correct`` or ``persistlab-quiz-wrong`` after a check). Options are labelled ``"a) <text>"``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from string import ascii_lowercase
from typing import Any, overload

import ipywidgets as widgets

from persistlab.learning import progress
from persistlab.learning.quiz_files import Choice, check_question, question_fields, read_questions

_PROMPTS = {"single": "pick one", "multiple": "pick all that apply", "free": "answer in your own words"}
HIDDEN_NOTE = "(answer hidden: run the notebook to check)"


@dataclass(frozen=True)
class Feedback:
    """The result of a check. ``correct`` is None when nothing was judged (no selection, free answer)."""

    correct: bool | None
    message: str


def _inline(text: str) -> str:
    """Escape for HTML; `backticks` become <code>, newlines <br>."""
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))
    return escaped.replace("\n", "<br>")


class Quiz:
    """One question. Make it with :meth:`single`, :meth:`multiple`, :meth:`free` or :meth:`from_file`."""

    def __init__(
        self,
        quiz_id: str,
        question: str,
        kind: str,
        choices: Sequence[Choice] = (),
        *,
        model_answer: str | None = None,
        hint: str | None = None,
    ):
        self.id = quiz_id
        self.question = question
        self.kind = kind
        self.choices = tuple(choices)
        self.model_answer = model_answer
        self.hint = hint
        check_question(self.id, self.question, self.kind, self.choices, self.model_answer, self.hint)
        self.letters = ascii_lowercase[: len(self.choices)]
        self._build_widget()

    # --- authoring ------------------------------------------------------------------------------

    @classmethod
    def single(cls, quiz_id: str, question: str, choices: Sequence[Choice], *, hint: str | None = None) -> Quiz:
        """A question with exactly one right choice."""
        return cls(quiz_id, question, "single", choices, hint=hint)

    @classmethod
    def multiple(cls, quiz_id: str, question: str, choices: Sequence[Choice], *, hint: str | None = None) -> Quiz:
        """A question where the learner must pick exactly the set of right choices."""
        return cls(quiz_id, question, "multiple", choices, hint=hint)

    @classmethod
    def free(cls, quiz_id: str, question: str, *, model_answer: str, hint: str | None = None) -> Quiz:
        """A question answered in words; the learner compares with ``model_answer``."""
        return cls(quiz_id, question, "free", model_answer=model_answer, hint=hint)

    @classmethod
    def from_file(cls, path: str | Path) -> QuizSet:
        """All questions of a quiz file (a JSON list of objects; see :meth:`from_dict`)."""
        path = Path(path)
        quizzes = []
        for number, item in enumerate(read_questions(path), 1):
            try:
                quizzes.append(cls.from_dict(item))
            except (TypeError, ValueError) as err:
                raise ValueError(f"Quiz file {path}, question {number}: {err}") from None
        return QuizSet(quizzes)

    @classmethod
    def show(cls, quiz_id: str, folder: str | Path = ".") -> Quiz:
        """The question ``quiz_id`` from its notebook's quiz file, ``<folder>/quizzes/<stem>.json``.

        ``<stem>`` is the part of the id before ``:`` (``"04_diagnosing_load_failures:no-index"`` is in
        ``quizzes/04_diagnosing_load_failures.json``); ``folder`` defaults to the current directory, which is
        the notebook's folder when Jupyter runs it. Only this question's widget is built.
        """
        stem, colon, _ = quiz_id.partition(":") if isinstance(quiz_id, str) else ("", "", "")
        if not (stem and colon):
            raise ValueError(f"Quiz id {quiz_id!r} names no quiz file: write '<notebook stem>:<question name>'.")
        path = Path(folder) / progress.QUIZ_DIR / f"{stem}.json"
        questions = read_questions(path)
        for number, item in enumerate(questions, 1):
            if isinstance(item, dict) and item.get("id") == quiz_id:
                try:
                    return cls.from_dict(item)
                except (TypeError, ValueError) as err:
                    raise ValueError(f"Quiz file {path}, question {number}: {err}") from None
        ids = ", ".join(str(item.get("id")) for item in questions if isinstance(item, dict))
        raise KeyError(f"Quiz file {path} has no question {quiz_id!r}; it has: {ids}.")

    @classmethod
    def from_dict(cls, item: Any) -> Quiz:
        """One question from JSON-like data::

        {"id": "01_why_persist:q1", "type": "single" | "multiple", "question": "...",
         "choices": [{"text": "...", "correct": true, "why": "..."}, ...], "hint": "..."}
        {"id": "01_why_persist:q2", "type": "free", "question": "...", "model_answer": "...", "hint": "..."}
        """
        return cls(**question_fields(item))

    # --- checking -------------------------------------------------------------------------------

    def answer(self, selection: str | Iterable[str]) -> Feedback:
        """Check an answer as the *Check* button does: letters (``"b"``, ``["a", "c"]``) or, for free
        questions, the text. Updates the widget, records progress, returns the feedback."""
        if self.kind == "free":
            if not isinstance(selection, str):
                raise TypeError(f"Quiz {self.id!r} is a free-answer question: answer with text, not {selection!r}.")
            assert self.answer_box is not None
            self.answer_box.value = selection
            if not selection.strip():
                feedback = Feedback(None, "Write your answer in the box first, then press Check.")
            else:
                feedback = Feedback(None, "Compare your answer with the model answer below.")
                self._reveal_hint()
                progress.record_quiz(self.id, None)
        else:
            letters = self._parse(selection)
            self._select(letters)
            if not letters:
                feedback = Feedback(None, f"Select an option ({_PROMPTS[self.kind]}), then press Check.")
            else:
                feedback = self._judge(letters)
                progress.record_quiz(self.id, feedback.correct)
        self._show_feedback(feedback)
        return feedback

    def _parse(self, selection: str | Iterable[str]) -> list[str]:
        picked = [selection] if isinstance(selection, str) else list(selection)
        letters = []
        for item in picked:
            letter = item.strip().lower() if isinstance(item, str) else None
            if letter is None or len(letter) != 1 or letter not in self.letters:
                raise ValueError(
                    f"Quiz {self.id!r}: unknown option {item!r}; the options are {', '.join(self.letters)}."
                )
            letters.append(letter)
        letters = sorted(set(letters))
        if self.kind == "single" and len(letters) > 1:
            raise ValueError(f"Quiz {self.id!r} is single choice: pick one option, got {', '.join(letters)}.")
        return letters

    def _judge(self, letters: list[str]) -> Feedback:
        def line(letter: str) -> str:
            choice = self.choices[self.letters.index(letter)]
            return f"{letter}) {choice.text.rstrip('.')}: {'right' if choice.correct else 'wrong'}. {choice.why}"

        right = {letter for letter, c in zip(self.letters, self.choices) if c.correct}
        correct = set(letters) == right
        lines = ["Correct." if correct else "Not quite.", *(line(letter) for letter in letters)]
        if self.kind == "multiple" and right - set(letters):
            lines.append("At least one right option is not selected yet.")
        return Feedback(correct, "\n".join(lines))

    # --- widget ---------------------------------------------------------------------------------

    def _build_widget(self) -> None:
        full_width = widgets.Layout(width="auto")
        question = widgets.HTML(self._question_html()).add_class("persistlab-quiz-question")
        parts: list[widgets.Widget] = [question]
        self.options: widgets.RadioButtons | tuple[widgets.Checkbox, ...] | None = None
        self.answer_box: widgets.Textarea | None = None
        labels = self.labels
        if self.kind == "single":
            radio = widgets.RadioButtons(options=list(zip(labels, self.letters)), index=None, layout=full_width)
            self.options = radio
            parts.append(radio.add_class("persistlab-quiz-options"))
        elif self.kind == "multiple":
            self.options = tuple(
                widgets.Checkbox(value=False, description=label, indent=False, layout=full_width).add_class(
                    "persistlab-quiz-option"
                )
                for label in labels
            )
            parts.append(widgets.VBox(self.options).add_class("persistlab-quiz-options"))
        else:
            self.answer_box = widgets.Textarea(
                placeholder="Write your answer here, then press Check.", rows=4, layout=widgets.Layout(width="100%")
            )
            parts.append(self.answer_box.add_class("persistlab-quiz-answer"))

        self.check_button = widgets.Button(description="Check", button_style="primary")
        self.check_button.add_class("persistlab-quiz-check").on_click(lambda _: self.answer(self._current_selection()))
        buttons = [self.check_button]
        self.hint_button: widgets.Button | None = None
        if self.hint or self.kind == "free":
            self.hint_button = widgets.Button(description="Show answer hint" if self.kind == "free" else "Show hint")
            self.hint_button.add_class("persistlab-quiz-hint").on_click(lambda _: self._reveal_hint())
            buttons.append(self.hint_button)
        self.feedback_area = widgets.HTML("").add_class("persistlab-quiz-feedback")
        self.hint_area = widgets.HTML("").add_class("persistlab-quiz-hint-text")
        self.widget = widgets.VBox([*parts, widgets.HBox(buttons), self.feedback_area, self.hint_area])
        for css_class in ("persistlab-quiz", f"persistlab-quiz-{self.kind}", self.css_id):
            self.widget.add_class(css_class)

    @property
    def labels(self) -> list[str]:
        """The options as the widget shows them: ``"a) text"``, without Markdown backticks (labels are plain text)."""
        return [f"{letter}) {c.text.replace('`', '')}" for letter, c in zip(self.letters, self.choices)]

    @property
    def css_id(self) -> str:
        """The CSS class naming this quiz, e.g. ``persistlab-quiz-id-01_why_persist-q1``."""
        return "persistlab-quiz-id-" + re.sub(r"[^A-Za-z0-9_-]", "-", self.id)

    def _current_selection(self) -> str | list[str]:
        if isinstance(self.options, widgets.RadioButtons):
            return [] if self.options.value is None else [self.options.value]
        if self.options is not None:
            return [letter for letter, box in zip(self.letters, self.options) if box.value]
        assert self.answer_box is not None
        return self.answer_box.value

    def _select(self, letters: list[str]) -> None:
        if isinstance(self.options, widgets.RadioButtons):
            self.options.value = letters[0] if letters else None
        elif self.options is not None:
            for letter, box in zip(self.letters, self.options):
                box.value = letter in letters

    def _show_feedback(self, feedback: Feedback) -> None:
        colour = {True: "#1a7f37", False: "#cf222e", None: "inherit"}[feedback.correct]
        self.feedback_area.value = f'<div style="color: {colour}">{_inline(feedback.message)}</div>'
        self.feedback_area.remove_class("persistlab-quiz-correct").remove_class("persistlab-quiz-wrong")
        if feedback.correct is not None:
            self.feedback_area.add_class("persistlab-quiz-correct" if feedback.correct else "persistlab-quiz-wrong")

    def _reveal_hint(self) -> None:
        parts = []
        if self.hint:
            parts.append(f"<p><strong>Hint:</strong> {_inline(self.hint)}</p>")
        if self.model_answer:
            parts.append(f"<p><strong>Model answer:</strong> {_inline(self.model_answer)}</p>")
        self.hint_area.value = "".join(parts)

    # --- display --------------------------------------------------------------------------------

    def _question_html(self) -> str:
        return f"<p><strong>Question</strong> <em>({_PROMPTS[self.kind]})</em>: {_inline(self.question)}</p>"

    def as_text(self) -> str:
        """The question and lettered options, answers hidden; stable, for text-only viewers."""
        lines = [f"Question ({_PROMPTS[self.kind]}): {self.question}"]
        lines += [f"  {letter}) {c.text}" for letter, c in zip(self.letters, self.choices)]
        lines.append(HIDDEN_NOTE)
        return "\n".join(lines)

    def as_html(self) -> str:
        """The question with hint and answer folded into <details>; stable, for viewers without widgets."""
        parts = [self._question_html()]
        if self.choices:
            items = "".join(f"<li>{letter}) {_inline(c.text)}</li>" for letter, c in zip(self.letters, self.choices))
            parts.append(f"<ul>{items}</ul>")
        if self.hint:
            parts.append(f"<details><summary>Show hint</summary><p>{_inline(self.hint)}</p></details>")
        if self.kind == "free":
            answer = f"<p>{_inline(self.model_answer or '')}</p>"
        else:
            verdicts = [
                f"<strong>{letter}) {_inline(c.text.rstrip('.'))}: {'right' if c.correct else 'wrong'}.</strong> {_inline(c.why)}"
                for letter, c in zip(self.letters, self.choices)
            ]
            answer = "<ul>" + "".join(f"<li>{v}</li>" for v in verdicts) + "</ul>"
        parts.append(f"<details><summary>Show answer</summary>{answer}</details>")
        parts.append("<p><em>Run the notebook to check your answer.</em></p>")
        return f'<div class="persistlab-quiz-static">{"".join(parts)}</div>'

    def __repr__(self) -> str:
        return self.as_text()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return _bundle(self.widget, self.as_text(), self.as_html())


def _bundle(widget: widgets.Widget, text: str, html_text: str) -> dict[str, Any]:
    """The widget view (live Jupyter) plus text and HTML that viewers without widgets fall back to."""
    widget_repr = getattr(widget, "_repr_mimebundle_", None)  # None once the widget is closed
    data = dict(widget_repr() or {}) if widget_repr else {}
    data.update({"text/plain": text, "text/html": html_text})
    return data


class QuizSet(Sequence[Quiz]):
    """The questions of a quiz file: shows them all; ``quizzes["<id>"]`` or ``quizzes[0]`` picks one."""

    def __init__(self, quizzes: Iterable[Quiz]):
        self._quizzes = tuple(quizzes)
        self._widget: widgets.VBox | None = None

    @overload
    def __getitem__(self, key: int | str) -> Quiz: ...
    @overload
    def __getitem__(self, key: slice) -> Sequence[Quiz]: ...
    def __getitem__(self, key: int | str | slice) -> Quiz | Sequence[Quiz]:
        if isinstance(key, str):
            for quiz in self._quizzes:
                if quiz.id == key:
                    return quiz
            raise KeyError(f"No quiz {key!r} here; the ids are {', '.join(q.id for q in self._quizzes)}.")
        return self._quizzes[key]

    def __len__(self) -> int:
        return len(self._quizzes)

    def __iter__(self) -> Iterator[Quiz]:
        return iter(self._quizzes)

    def __repr__(self) -> str:
        return "\n\n".join(q.as_text() for q in self._quizzes)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        if self._widget is None:
            self._widget = widgets.VBox([q.widget for q in self._quizzes]).add_class("persistlab-quiz-set")
        return _bundle(self._widget, repr(self), "".join(q.as_html() for q in self._quizzes))
