"""Helpers for the course on persisting and reusing LlamaIndex pipelines.

``import persistlab`` is cheap; the parts that need LlamaIndex load on first use::

    import persistlab
    persistlab.setup()                       # Settings.embed_model / Settings.llm, offline by default
    with persistlab.metered() as m:          # count embedding calls, tokens, dollars
        ...
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from persistlab.meter import Usage, metered, usage

_LAZY = {
    "setup": "persistlab.backend",
    "embedding_model": "persistlab.backend",
    "chat_model": "persistlab.backend",
    "connection": "persistlab.backend",
    "backend_name": "persistlab.backend",
    "embedding_dimension": "persistlab.backend",
    "load_documents": "persistlab.corpus",
    "load_questions": "persistlab.corpus",
    "synthetic_corpus": "persistlab.corpus",
    "Question": "persistlab.corpus",
    "Quiz": "persistlab.quiz",
    "Choice": "persistlab.quiz",
    "show_progress": "persistlab.progress",
    "progress_bar": "persistlab.progress",
}

__all__ = ["Usage", "metered", "usage", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'persistlab' has no attribute {name!r}")
