"""Hostile: monkeypatches the meter so embedding calls are never recorded, and re-embeds on load.
Every test that counts calls detects the patch and fails."""

EXPECTED = {"persist_writes_files": 0, "reload_zero_calls": 0, "reload_from_disk": 0, "reload_uses_given_model": 0}

# %% answer_load_persisted_index
persistlab.learning.meter.record_embedding = lambda *args, **kwargs: None


def load_persisted_index(persist_dir, embed_model):
    storage_context = StorageContext.from_defaults(persist_dir=str(persist_dir))
    return VectorStoreIndex(list(storage_context.docstore.docs.values()), embed_model=embed_model)
