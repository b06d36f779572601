"""Hard-coded path: both functions use "./storage", the folder from the lesson, whatever persist_dir says."""

EXPECTED = {"persist_writes_files": 0, "reload_zero_calls": 0, "reload_from_disk": 0, "reload_uses_given_model": 0}

# %% answer_build_and_persist
def build_and_persist(documents, persist_dir, embed_model):
    index = VectorStoreIndex.from_documents(documents, embed_model=embed_model)
    index.storage_context.persist(persist_dir="./storage")
    return index

# %% answer_load_persisted_index
def load_persisted_index(persist_dir, embed_model):
    storage_context = StorageContext.from_defaults(persist_dir="./storage")
    return load_index_from_storage(storage_context, embed_model=embed_model)
