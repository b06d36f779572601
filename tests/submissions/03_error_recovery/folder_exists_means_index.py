"""A folder that exists is taken for a valid index: an empty folder crashes instead of being built, and damage surfaces as a raw JSON or KeyError instead of CorruptIndexError."""

EXPECTED = {"loaded": 2, "built": 0, "corrupt": 0, "atomic_success": 1, "atomic_crash_while_writing": 2,
            "atomic_crash_during_swap": 2}

# %% answer_load_or_build
def load_or_build(documents, persist_dir, embed_model):
    repair_interrupted_swap(persist_dir)
    if Path(persist_dir).exists():
        storage_context = StorageContext.from_defaults(persist_dir=str(persist_dir))
        return load_index_from_storage(storage_context, embed_model=embed_model), "loaded"
    index = VectorStoreIndex.from_documents(documents, embed_model=embed_model)
    persist_atomically(index, persist_dir)
    return index, "built"
