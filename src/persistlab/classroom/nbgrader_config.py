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

import os
from pathlib import Path
from typing import Any

_PLUGINS = "persistlab.classroom.preprocessors"
NBGRADER_EXCHANGE = "/usr/local/share/nbgrader/exchange"
"""nbgrader's default ``Exchange.root``."""
LOCAL_EXCHANGE = ".nbgrader/exchange"
"""The exchange of a course run on one machine, in its folder (git ignores ``.nbgrader/``): see :func:`configure`."""


def exchange_configured() -> bool:
    """Whether a site or user nbgrader config (``jupyter --paths``' config folders) sets ``Exchange.root``."""
    from jupyter_core.paths import jupyter_config_path
    from traitlets.config.loader import ConfigFileNotFound, JSONFileConfigLoader, PyFileConfigLoader

    for folder in jupyter_config_path():
        for loader in (PyFileConfigLoader, JSONFileConfigLoader):
            name = "nbgrader_config." + ("py" if loader is PyFileConfigLoader else "json")
            try:
                config = loader(name, path=folder).load_config()
            except ConfigFileNotFound:
                continue
            except Exception:  # nbgrader will report it; do not guess
                return True
            if "Exchange" in config and "root" in config.Exchange:
                return True
    return False


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
    if not exchange_configured() and not os.access(NBGRADER_EXCHANGE, os.W_OK | os.X_OK):
        # No exchange set up: a course on one machine. Without this, the formgrader's assignment list logs
        # "Unwritable directory, please contact your instructor" for nbgrader's default. A site's or user's
        # Exchange.root (a shared course) is never overridden.
        course_root = c.CourseDirectory.root if "root" in c.CourseDirectory else os.getcwd()
        exchange = Path(course_root) / LOCAL_EXCHANGE
        exchange.mkdir(parents=True, exist_ok=True)
        c.Exchange.root = str(exchange)
    c.GenerateFeedback.preprocessors = [
        "nbgrader.preprocessors.GetGrades",
        "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
        f"{_PLUGINS}.ReadableFeedback",
        f"{_PLUGINS}.HideHiddenTests",
    ]
