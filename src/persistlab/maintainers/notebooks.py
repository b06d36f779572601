"""Execute course notebooks reproducibly and check their shape.

Authors run ``persistlab execute lessons/01_*.ipynb`` after editing a lesson: it runs the notebook
in its own folder, offline, with progress bars off and the network guard on, and stores the outputs
without timing metadata, so running it twice gives the same file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from persistlab.config import GUARD_ENV, NO_PROGRESS_BAR_ENV, PROGRESS_FILE_ENV

NOTEBOOK_ENV = {
    NO_PROGRESS_BAR_ENV: "1",
    GUARD_ENV: "1",
    "PYTHONHASHSEED": "0",
    PROGRESS_FILE_ENV: os.devnull,  # a run never reads or writes the learner's progress
}
"""Environment for reproducible runs (CI's nbval run uses the same)."""


@contextmanager
def environment(overrides: Mapping[str, str | None]) -> Iterator[None]:
    """Set environment variables for the ``with`` block (kernels started inside inherit them); None unsets one."""
    saved = {key: os.environ.get(key) for key in overrides}
    for key, value in overrides.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def execute(path: Path, timeout: int = 600) -> None:
    """Run the notebook at ``path`` in its folder and store its outputs in place."""
    import nbformat
    from nbclient import NotebookClient

    path = Path(path).resolve()
    nb = nbformat.read(path, as_version=4)
    with environment(NOTEBOOK_ENV):
        NotebookClient(
            nb,
            timeout=timeout,
            kernel_name="python3",
            record_timing=False,
            resources={"metadata": {"path": str(path.parent)}},
        ).execute()
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = stable_outputs(cell.outputs)
    nb.metadata.pop("widgets", None)  # widget state holds random model ids
    nbformat.write(nb, path)


def stable_outputs(outputs: list) -> list:
    """Outputs as they should be stored: consecutive prints to one stream merged into one output
    (the kernel splits them by timing), and live widget views dropped (their model ids are random;
    the text and HTML fallbacks stay, and the widget comes back when the cell runs)."""
    stored: list = []
    for output in outputs:
        if (
            output.get("output_type") == "stream"
            and stored
            and stored[-1].get("output_type") == "stream"
            and stored[-1]["name"] == output["name"]
        ):
            stored[-1]["text"] += output["text"]
            continue
        data = output.get("data")
        if data is not None:
            data.pop("application/vnd.jupyter.widget-view+json", None)
            if not data:
                continue
        stored.append(output)
    return stored
