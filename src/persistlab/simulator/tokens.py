"""Offline token counting with tiktoken.

tiktoken downloads its encodings on first use. llama-index-core ships the two the course needs,
so :func:`use_bundled_encodings` points ``TIKTOKEN_CACHE_DIR`` at them before anything loads one.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path


def use_bundled_encodings() -> Path:
    """Point tiktoken at the encodings bundled in llama-index-core, unless the user chose a cache."""
    from importlib.util import find_spec

    spec = find_spec("llama_index.core")  # its folder, without importing it (seconds, in a simulator process)
    if spec is None:
        raise ModuleNotFoundError("llama-index-core is not installed: install the course's lock (README).")
    bundled = Path(next(iter(spec.submodule_search_locations or []))) / "_static" / "tiktoken_cache"
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(bundled))
    return Path(os.environ["TIKTOKEN_CACHE_DIR"])


@lru_cache(maxsize=4)
def _encoding(name: str):  # -> tiktoken.Encoding
    use_bundled_encodings()
    import tiktoken

    return tiktoken.get_encoding(name)


def encoding_name(model: str) -> str:
    """The tokenizer OpenAI uses for ``model``: o200k_base for gpt-4o/4.1 models, else cl100k_base."""
    return "o200k_base" if model.startswith(("gpt-4o", "gpt-4.1", "o1", "o3", "o4")) else "cl100k_base"


def count_tokens(text: str, model: str = "text-embedding-3-small") -> int:
    """Number of input tokens ``text`` costs with ``model``."""
    return len(_encoding(encoding_name(model)).encode(text, disallowed_special=()))
