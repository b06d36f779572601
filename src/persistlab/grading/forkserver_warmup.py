"""Imported by the forkserver of :mod:`persistlab.grading.processes` only, before its first fork.

It does once what every child would otherwise repeat before its first embedding request: load the sentence
splitter's tokenizer (tiktoken's cl100k_base, from the files bundled with llama-index-core) and build the
validators of the embeddings response. About 1.5 CPU seconds per writer it saves. It starts no thread and
opens no connection.
"""

from __future__ import annotations

from llama_index.core.utils import get_tokenizer
from openai.types import CreateEmbeddingResponse

from persistlab.simulator.tokens import use_bundled_encodings

use_bundled_encodings()
get_tokenizer()
CreateEmbeddingResponse.model_validate(
    {
        "object": "list",
        "model": "text-embedding-3-small",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.0]}],
        "usage": {"prompt_tokens": 1, "total_tokens": 1},
    }
)
