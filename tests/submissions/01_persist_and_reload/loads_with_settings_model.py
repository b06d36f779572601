"""Loads without embed_model=: the reloaded index embeds questions with Settings.embed_model, not the model that made the vectors."""

EXPECTED = {"persist_writes_files": 2, "reload_zero_calls": 2, "reload_from_disk": 3, "reload_uses_given_model": 0}

# %% answer_load_persisted_index
def load_persisted_index(persist_dir, embed_model):
    storage_context = StorageContext.from_defaults(persist_dir=str(persist_dir))
    return load_index_from_storage(storage_context)
