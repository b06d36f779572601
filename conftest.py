"""Shared test set-up for tests/ and the notebooks nbval runs.

No test may open a connection outside loopback, and notebook kernels (which inherit this
environment) run offline, quietly and reproducibly.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings

from persistlab.classroom import kernels
from persistlab.maintainers.notebooks import NOTEBOOK_ENV
from persistlab.simulator import netguard

RUN_FIRST = (
    "tests/test_pip_install.py",
    "tests/test_grading_later.py",
    "tests/test_grading_others.py",
    "tests/test_grading.py",
    "tests/test_exchange.py",
    "tests/test_postgres_replicas.py",
    "lessons/08_vector_stores.ipynb",
    "tests/test_plain_nbgrader.py",
    "tests/test_realcheck.py",
    "tests/test_browser.py",
)
"""The modules that take the most CPU (measured on 2 cores), longest first. ``--dist loadscope`` hands each worker
the next module when it runs dry, in collection order (course.py turns xdist's reordering by test count off):
started last, one of these would leave a core idle for its whole length at the end of the run."""


settings.register_profile(
    "ci",
    derandomize=True,  # the same histories on every run
    max_examples=6,
    stateful_step_count=8,
    deadline=None,
    phases=(Phase.explicit, Phase.generate),  # a failure reports the history as generated, unshrunk
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "long",
    max_examples=10_000,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.register_profile("shrink", parent=settings.get_profile("ci"), phases=tuple(Phase))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
"""Generated histories (tests/generated.py): ``HYPOTHESIS_PROFILE=long`` runs 10,000 per recipe, shrinks what fails
and prints how many histories and steps ran (``pytest -s``); ``shrink`` reruns the CI histories and shrinks a failure."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::")[0]
        return RUN_FIRST.index(path) if path in RUN_FIRST else len(RUN_FIRST)

    items.sort(key=rank)  # stable: each module's tests keep their order


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "nbgrader: runs the real nbgrader CLI (slow)")
    config.addinivalue_line("markers", "browser: drives headless Chromium against a local JupyterLab")
    os.environ.update(NOTEBOOK_ENV)
    netguard.install()
    # The suite forks its kernels (nbval's, and the graders' it runs) from a process that imported the libraries:
    # 2-3 s of imports less per notebook. Instructors opt in the same way; PERSISTLAB_FORK_KERNELS=0 tests without.
    os.environ.setdefault(kernels.FORK_KERNELS_ENV, "1")
    kernels.fork_every_kernel()


@pytest.fixture()
def small_vectors() -> Iterator[None]:
    """The offline simulator with 64-number vectors (the API's ``dimensions=``) as ``Settings.embed_model``: the
    recipe histories load JSON vector stores hundreds of times, and a load's time grows with the vector length
    (lesson 07's crash history: 65 s of CPU at 1,536 numbers, 18 s at 64). Modules ask for it with
    ``pytestmark = pytest.mark.usefixtures("small_vectors")``."""
    from llama_index.core import Settings

    import persistlab

    persistlab.setup(quiet=True)
    Settings.embed_model = persistlab.embedding_model(dimensions=64)
    yield
    persistlab.setup(quiet=True)


@pytest.fixture(scope="module")
def tiny_vectors() -> Iterator[None]:
    """The offline simulator with 8-number vectors as ``Settings.embed_model`` for a whole module: for recipe tests
    that persist and load many small indexes and look at documents, not similarity."""
    from llama_index.core import Settings

    import persistlab

    persistlab.setup(quiet=True)
    before = Settings.embed_model
    Settings.embed_model = persistlab.embedding_model("text-embedding-3-small", dimensions=8)
    yield
    Settings.embed_model = before


@pytest.fixture()
def progress_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The learner's progress file (``PERSISTLAB_PROGRESS_FILE``), in a folder not yet made, for this test only."""
    from persistlab.learning import progress

    path = tmp_path / "state" / ".progress.json"
    monkeypatch.setenv(progress.PROGRESS_FILE_ENV, str(path))
    return path
