"""The course's nbgrader settings: grading that survives dead kernels, restores deleted tests and keeps
hidden tests hidden. The course's ``nbgrader_config.py`` applies them::

    c = get_config()
    from persistlab.classroom.nbgrader_config import configure
    configure(c)

The ``persistlab`` grading commands apply :func:`configure` themselves, so they behave the same
whether or not the course's ``nbgrader_config.py`` calls it. The preprocessors are in
:mod:`persistlab.classroom.preprocessors`; :func:`configure` names them by their import path, so that
reading the config (every ``persistlab`` grading command does, for the course's folder names) imports
neither them nor nbgrader (1.2 s of CPU); nbgrader imports them when it grades or writes feedback.
"""

from __future__ import annotations

from typing import Any

_PLUGINS = "persistlab.classroom.preprocessors"


def configure(c: Any) -> None:
    """Apply the course's grading settings to an nbgrader config object ``c``."""
    c.OverwriteCells.add_missing_cells = True
    c.Autograde.sanitize_preprocessors = [
        f"{_PLUGINS}.NameStudents",
        "nbgrader.preprocessors.ClearOutput",
        "nbgrader.preprocessors.DeduplicateIds",
        "nbgrader.preprocessors.OverwriteKernelspec",
        f"{_PLUGINS}.RestoreDeletedTests",
        "nbgrader.preprocessors.CheckCellMetadata",
    ]
    c.Autograde.autograde_preprocessors = [
        f"{_PLUGINS}.RobustExecute",
        "nbgrader.preprocessors.IgnorePattern",
        "nbconvert.preprocessors.ClearMetadataPreprocessor",
        "nbgrader.preprocessors.LimitOutput",
        "nbgrader.preprocessors.SaveAutoGrades",
        "nbgrader.preprocessors.AssignLatePenalties",
        f"{_PLUGINS}.ShowRubric",
        "nbgrader.preprocessors.CheckCellMetadata",
    ]
    c.GenerateFeedback.preprocessors = [
        "nbgrader.preprocessors.GetGrades",
        "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
        f"{_PLUGINS}.HideHiddenTests",
    ]
