"""The course's configuration: every environment variable it reads, and how it finds its folders.

The names live here only; each module that reads one imports its name from here.
"""

from __future__ import annotations

from pathlib import Path

BACKEND_ENV = "PERSISTLAB_BACKEND"
"""Which backend answers the course's OpenAI classes: :data:`SIMULATOR` (default) or :data:`OPENAI`."""
SIMULATOR, OPENAI = "simulator", "openai"
OPENAI_API_KEY_ENV = "OPENAI_API_KEY"
OPENAI_API_BASE_ENV = "OPENAI_API_BASE"
"""An OpenAI-compatible server for the ``openai`` backend (the real API when unset)."""
LOCAL_SERVER_KEY = "sk-placeholder-for-local-server"
"""The key sent to a local OpenAI-compatible server (such as the served simulator): it opens nothing."""
FAULTS_ENV = "PERSISTLAB_FAULTS"
"""Faults to inject into every request of the session (see :mod:`persistlab.simulator.faults`)."""
SPEND_CAP_ENV = "PERSISTLAB_SPEND_CAP_USD"
"""When set, a request whose estimated cost would take this process's total past it is not sent."""
GUARD_ENV = "PERSISTLAB_NETWORK_GUARD"
"""``1``: refuse every connection to a non-loopback address (see :mod:`persistlab.simulator.netguard`)."""
DATA_DIR_ENV = "PERSISTLAB_DATA_DIR"
"""The data folder (the one holding ``preserving/``), when it is not found above the package or cwd."""
PROGRESS_FILE_ENV = "PERSISTLAB_PROGRESS_FILE"
"""Where the learner's progress is saved (default ``<course root>/.progress.json``)."""
NO_PROGRESS_BAR_ENV = "PERSISTLAB_NO_PROGRESS"
"""``1``: no progress bars (reproducible notebook outputs)."""


def find_upwards(marker: str, start: Path | None = None) -> Path | None:
    """The nearest folder at or above ``start`` (default: cwd) that holds ``marker`` (a relative path), or None."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / marker).exists():
            return folder
    return None


def course_root(start: Path | None = None) -> Path | None:
    """The course folder at or above ``start`` (default: cwd): the one holding ``lessons/``."""
    found = find_upwards("lessons", start)
    return found if found is not None and (found / "lessons").is_dir() else None
