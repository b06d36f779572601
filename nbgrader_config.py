"""nbgrader configuration for the course (run nbgrader commands from this folder).

Source notebooks with solutions and hidden tests live in ``solutions/``; ``nbgrader generate_assignment
<name> --force`` writes the learners' version to ``exercises/``. Submissions, grades and the exchange
stay out of git (see .gitignore).
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

c.CourseDirectory.course_id = "persistlab"
c.CourseDirectory.root = str(ROOT)
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.db_url = f"sqlite:///{ROOT / 'gradebook.db'}"
# Folders the notebooks write while they run never belong in a release.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "storage"]

# No Exchange.root here: the exchange (`nbgrader release_assignment`, `fetch_assignment`, `submit`,
# `collect`) is the server's, set in a site or user config such as /etc/jupyter/nbgrader_config.py
# (a value here would override it). nbgrader's default is /usr/local/share/nbgrader/exchange.

# Every exercise cell runs in well under 10 s; a minute leaves room for a slow, busy machine.
c.ExecutePreprocessor.timeout = 60

# Grading that survives dead kernels, restores deleted tests and hides hidden tests in feedback,
# for plain `nbgrader` commands too (the `persistlab` commands apply it anyway).
from persistlab.classroom.nbgrader_config import configure  # noqa: E402

configure(c)
