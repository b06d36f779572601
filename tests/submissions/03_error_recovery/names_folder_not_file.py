"""Detects the damage but CorruptIndexError names the folder, not the damaged file, so whoever reads it must go looking."""

EXPECTED = {"loaded": 2, "built": 2, "corrupt": 0, "atomic_success": 1, "atomic_crash_while_writing": 2,
            "atomic_crash_during_swap": 2}

# %% answer_load_or_build
def load_or_build(documents, persist_dir, embed_model):
    repair_interrupted_swap(persist_dir)
    persist_dir = Path(persist_dir)
    if not persist_dir.exists() or not any(persist_dir.iterdir()):
        index = VectorStoreIndex.from_documents(documents, embed_model=embed_model)
        persist_atomically(index, persist_dir)
        return index, "built"
    try:
        for name in REQUIRED_FILES:
            json.loads((persist_dir / name).read_text(encoding="utf-8"))
        storage_context = StorageContext.from_defaults(persist_dir=str(persist_dir))
        return load_index_from_storage(storage_context, embed_model=embed_model), "loaded"
    except Exception as err:
        raise CorruptIndexError(persist_dir, f"cannot be loaded ({err})") from err
