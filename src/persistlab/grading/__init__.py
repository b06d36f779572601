"""Tools for the test cells of the graded exercises (``solutions/*/*.ipynb``).

A test cell builds an embedding model whose calls it can count, gives it to the learner's function
and checks what came back::

    from persistlab import grading

    embed_model, counter = grading.counting_embedding_model("text-embedding-3-large", dimensions=256)
    with grading.fresh_dir() as tmp:
        ...
        with counter.watch() as calls:
            index = load_persisted_index(tmp / "index", embed_model)
        assert calls.requests == 0, f"load_persisted_index made {calls.requests} embedding calls"

Why not read the usage meter? The learner's code runs in the same kernel as the tests, before
them, and could reset ``persistlab.usage``, replace ``persistlab.metered`` or swap the model's HTTP
client. So the count a test trusts is kept by a server in another process, which the model's probes
show it still reaches (:mod:`.counting`); the course's own meter and grading code are checked against their source
files (:mod:`.integrity`). These checks catch tampering with the course's tools; they cannot
sandbox arbitrary code (nor do they need to: the instructor reads the submission).

The parts, all re-exported here:

- :mod:`.counting`: :func:`counting_embedding_model`, :class:`CallCounter`, :func:`settings_embed_model`;
- :mod:`.integrity`: :func:`check_meter_integrity`, :class:`TamperingError`;
- :mod:`.documents`: :func:`sample_documents`, :func:`revise`, :func:`question_about`, :func:`code_of`,
  :func:`count_chunks`;
- :mod:`.indexes`: :func:`fresh_dir`, the reference persist and load, readers of persisted indexes
  (:func:`stored_doc_ids`, :func:`top_doc_id`, :func:`retrieve_all`, :func:`tree_digest`,
  :func:`digest_outside_chroma`, :func:`chroma_records`, :func:`changed_sources`, :func:`forget_chroma_clients`) and fsspec
  file systems (:func:`private_memory_fs`, :func:`dir_fs`);
- :mod:`.crashes`: failures injected into a persist and :func:`check_after_crash`, their verdict; with
  :func:`crash_at_write` and :func:`count_writes` (from :mod:`persistlab.grading.crashpoints`) and :func:`check_consistent` (from
  :mod:`persistlab.grading.consistency`).

Not re-exported: :mod:`.readers`, a reader paused between two files, for lessons 05 and 10's proof cells.
"""

from __future__ import annotations

from persistlab.grading.consistency import check_consistent
from persistlab.grading.counting import CallCounter, Calls, counting_embedding_model, settings_embed_model
from persistlab.grading.crashes import (
    Crash,
    InjectedFailure,
    attempt,
    check_after_crash,
    crash_on_delete,
    crash_on_rename,
    crash_while_writing,
    damage,
)
from persistlab.grading.crashpoints import InjectedCrash, WriteCrash, count_writes, crash_at_write
from persistlab.grading.documents import Revision, code_of, count_chunks, question_about, revise, sample_documents
from persistlab.grading.indexes import (
    changed_sources,
    chroma_records,
    digest_outside_chroma,
    dir_fs,
    forget_chroma_clients,
    fresh_dir,
    load_reference_index,
    persist_reference_index,
    persist_with,
    private_memory_fs,
    retrieve_all,
    stored_doc_ids,
    swap_stored_vectors,
    top_doc_id,
    tree_digest,
)
from persistlab.grading.integrity import GUARDED_MODULES, TamperingError, check_meter_integrity

__all__ = [
    "CallCounter",
    "Calls",
    "Crash",
    "GUARDED_MODULES",
    "InjectedCrash",
    "InjectedFailure",
    "Revision",
    "TamperingError",
    "WriteCrash",
    "attempt",
    "check_after_crash",
    "check_consistent",
    "changed_sources",
    "check_meter_integrity",
    "chroma_records",
    "code_of",
    "count_chunks",
    "counting_embedding_model",
    "count_writes",
    "crash_at_write",
    "crash_on_delete",
    "crash_on_rename",
    "crash_while_writing",
    "damage",
    "digest_outside_chroma",
    "dir_fs",
    "forget_chroma_clients",
    "fresh_dir",
    "load_reference_index",
    "persist_reference_index",
    "persist_with",
    "private_memory_fs",
    "question_about",
    "retrieve_all",
    "revise",
    "sample_documents",
    "settings_embed_model",
    "stored_doc_ids",
    "swap_stored_vectors",
    "top_doc_id",
    "tree_digest",
]
