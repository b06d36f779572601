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

from persistlab.learning.meter import Usage, metered, usage

_LAZY = {
    "setup": "persistlab.models",
    "embedding_model": "persistlab.models",
    "chat_model": "persistlab.models",
    "connection": "persistlab.models",
    "backend_name": "persistlab.models",
    "embedding_dimension": "persistlab.models",
    "load_documents": "persistlab.learning.corpus",
    "load_questions": "persistlab.learning.corpus",
    "synthetic_corpus": "persistlab.learning.corpus",
    "Question": "persistlab.learning.corpus",
    "Quiz": "persistlab.learning.quiz",
    "Choice": "persistlab.learning.quiz",
    "show_progress": "persistlab.learning.progress",
    "progress_bar": "persistlab.learning.progress",
}

__all__ = ["Usage", "metered", "usage", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'persistlab' has no attribute {name!r}")
