"""Unsafe folder name: pastes the version into the path as it is, so "2025/06" makes a sub-folder and "../../etc" leaves base_dir (only the hidden test tries them)."""

EXPECTED = {"manifest_written": 2, "name_mismatch": 2, "dimension_mismatch": 2, "fingerprint_mismatch": 2,
            "tolerance": 2, "missing_manifest": 1, "load_checked_index": 2, "versioned_persist_dir": 0}

# %% answer_versioned
def versioned_persist_dir(base_dir, embed_model, index_version):
    dimension = embed_model.dimensions or len(embed_model.get_text_embedding("dimension probe"))
    return Path(base_dir) / f"{embed_model.model_name}-{dimension}d-v{index_version}"
