"""Hostile: re-embeds on load, then resets the usage meter to hide the calls. The tests count calls
themselves, so the reload points are still lost."""

EXPECTED = {"persist_writes_files": 2, "reload_zero_calls": 0, "reload_from_disk": 0, "reload_uses_given_model": 2}

# %% answer_load_persisted_index
def load_persisted_index(persist_dir, embed_model):
    storage_context = StorageContext.from_defaults(persist_dir=str(persist_dir))
    index = VectorStoreIndex(list(storage_context.docstore.docs.values()), embed_model=embed_model)
    persistlab.usage.reset()
    return index
