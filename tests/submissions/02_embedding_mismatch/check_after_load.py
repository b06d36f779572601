"""Checks after loading: a damaged index fails to load before the mismatch is noticed (only the hidden test damages one)."""

EXPECTED = {"manifest_written": 2, "name_mismatch": 2, "dimension_mismatch": 2, "fingerprint_mismatch": 2,
            "tolerance": 2, "missing_manifest": 1, "load_checked_index": 0, "versioned_persist_dir": 2}

# %% answer_load_checked
def load_checked_index(persist_dir, embed_model):
    storage_context = StorageContext.from_defaults(persist_dir=str(persist_dir))
    index = load_index_from_storage(storage_context, embed_model=embed_model)
    check_embedding_compatibility(persist_dir, embed_model)
    return index
