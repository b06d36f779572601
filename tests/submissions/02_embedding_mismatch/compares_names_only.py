"""Compares names only: the check stops at the model name, so another dimension or a changed model behind the same name passes."""

EXPECTED = {"manifest_written": 2, "name_mismatch": 2, "dimension_mismatch": 0, "fingerprint_mismatch": 0,
            "tolerance": 2, "missing_manifest": 1, "load_checked_index": 2, "versioned_persist_dir": 2}

# %% answer_check
def check_embedding_compatibility(persist_dir, embed_model):
    path = Path(persist_dir) / MANIFEST_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if manifest["model_name"] != embed_model.model_name:
        raise EmbeddingModelMismatchError(f"built with {manifest['model_name']}, not {embed_model.model_name}")
