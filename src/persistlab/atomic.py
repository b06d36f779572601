"""Writing a file so that readers see the old contents or the new, never half of it."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def write_atomically(path: Path | str, write: Callable[[BinaryIO], object], durable: bool = False) -> None:
    """Write ``path`` through ``write(file)``: a temporary file in the same folder, then ``os.replace``.

    The temporary file is removed if anything fails. ``durable`` also flushes it to disk (``fsync``)
    before the rename. Readers that memory-mapped the old file keep the old contents.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
