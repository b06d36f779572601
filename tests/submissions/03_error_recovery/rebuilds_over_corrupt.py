"""Rebuilds silently over a corrupt index: any failure to load is taken for "no index yet", so a damaged folder is overwritten and re-embedded."""

EXPECTED = {"loaded": 2, "built": 2, "corrupt": 0, "atomic_success": 1, "atomic_crash_while_writing": 2,
            "atomic_crash_during_swap": 2}

# %% answer_load_or_build
def load_or_build(documents, persist_dir, embed_model):
    repair_interrupted_swap(persist_dir)
    try:
        storage_context = StorageContext.from_defaults(persist_dir=str(persist_dir))
        return load_index_from_storage(storage_context, embed_model=embed_model), "loaded"
    except Exception:
        index = VectorStoreIndex.from_documents(documents, embed_model=embed_model)
        persist_atomically(index, persist_dir)
        return index, "built"
