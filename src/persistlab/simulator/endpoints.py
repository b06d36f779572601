"""Which OpenAI endpoint a request is for: the one definition the simulator, the server and the meter share."""

from __future__ import annotations

import httpx

EMBEDDINGS = "embedding"
CHAT = "chat"


def kind_of(method: str, path: str) -> str | None:
    """:data:`EMBEDDINGS` for ``POST .../embeddings``, :data:`CHAT` for ``POST .../chat/completions``, else None."""
    if method != "POST":
        return None
    path = path.rstrip("/")
    return EMBEDDINGS if path.endswith("/embeddings") else CHAT if path.endswith("/chat/completions") else None


def request_kind(request: httpx.Request) -> str | None:
    """:func:`kind_of` an ``httpx`` request."""
    return kind_of(request.method, request.url.path)
