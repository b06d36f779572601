"""Builds with Settings.embed_model: from_documents without embed_model= embeds with the global model, not the one given."""

EXPECTED = {"persist_writes_files": 0, "reload_zero_calls": 2, "reload_from_disk": 3, "reload_uses_given_model": 2}

# %% answer_build_and_persist
def build_and_persist(documents, persist_dir, embed_model):
    index = VectorStoreIndex.from_documents(documents)
    index.storage_context.persist(persist_dir=str(persist_dir))
    return index
