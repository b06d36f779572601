"""Loads with an empty StorageContext: StorageContext.from_defaults() without persist_dir reads nothing from disk."""

EXPECTED = {"persist_writes_files": 2, "reload_zero_calls": 0, "reload_from_disk": 0, "reload_uses_given_model": 0}

# %% answer_load_persisted_index
def load_persisted_index(persist_dir, embed_model):
    storage_context = StorageContext.from_defaults()
    return load_index_from_storage(storage_context, embed_model=embed_model)
