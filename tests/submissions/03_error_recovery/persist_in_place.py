"""Persists in place: storage_context.persist writes file after file over the old index, so a crash half-way leaves a mix."""

EXPECTED = {"loaded": 2, "built": 2, "corrupt": 3, "atomic_success": 1, "atomic_crash_while_writing": 0,
            "atomic_crash_during_swap": 0}

# %% answer_persist_atomically
def persist_atomically(index, persist_dir):
    index.storage_context.persist(persist_dir=str(persist_dir))
