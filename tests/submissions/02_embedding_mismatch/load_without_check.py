"""Loads without checking: load_checked_index never calls the check, so an index built with another model loads."""

EXPECTED = {"manifest_written": 2, "name_mismatch": 2, "dimension_mismatch": 2, "fingerprint_mismatch": 2,
            "tolerance": 2, "missing_manifest": 1, "load_checked_index": 0, "versioned_persist_dir": 2}

# %% answer_load_checked
def load_checked_index(persist_dir, embed_model):
    storage_context = StorageContext.from_defaults(persist_dir=str(persist_dir))
    return load_index_from_storage(storage_context, embed_model=embed_model)
