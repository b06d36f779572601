"""Forgot to persist: build_and_persist builds the index but never writes it to disk."""

EXPECTED = {"persist_writes_files": 0, "reload_zero_calls": 2, "reload_from_disk": 3, "reload_uses_given_model": 2}

# %% answer_build_and_persist
def build_and_persist(documents, persist_dir, embed_model):
    return VectorStoreIndex.from_documents(documents, embed_model=embed_model)
