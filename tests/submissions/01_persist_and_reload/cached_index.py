"""Returns a cached index: remembers each index it built by folder and hands that object back instead of reading the folder."""

EXPECTED = {"persist_writes_files": 2, "reload_zero_calls": 2, "reload_from_disk": 0, "reload_uses_given_model": 2}

# %% answer_build_and_persist
_built = {}


def build_and_persist(documents, persist_dir, embed_model):
    index = VectorStoreIndex.from_documents(documents, embed_model=embed_model)
    index.storage_context.persist(persist_dir=str(persist_dir))
    _built[Path(persist_dir).resolve()] = index
    return index

# %% answer_load_persisted_index
def load_persisted_index(persist_dir, embed_model):
    if Path(persist_dir).resolve() in _built:
        return _built[Path(persist_dir).resolve()]
    storage_context = StorageContext.from_defaults(persist_dir=str(persist_dir))
    return load_index_from_storage(storage_context, embed_model=embed_model)
