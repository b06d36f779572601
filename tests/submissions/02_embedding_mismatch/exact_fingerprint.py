"""Exact fingerprint: stores the probe vectors unrounded and demands they come back identical, so a model whose vectors wobble a little (as real APIs' do) is rejected."""

EXPECTED = {"manifest_written": 2, "name_mismatch": 2, "dimension_mismatch": 2, "fingerprint_mismatch": 2,
            "tolerance": 0, "missing_manifest": 1, "load_checked_index": 2, "versioned_persist_dir": 2}

# %% answer_write_manifest
def write_embedding_manifest(persist_dir, embed_model):
    vectors = embed_model.get_text_embedding_batch(list(PROBE_TEXTS))
    manifest = {"model_name": embed_model.model_name, "dimension": len(vectors[0]), "fingerprint": vectors}
    path = Path(persist_dir) / MANIFEST_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest), encoding="utf-8")
    return manifest

# %% answer_check
def check_embedding_compatibility(persist_dir, embed_model):
    path = Path(persist_dir) / MANIFEST_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if manifest["model_name"] != embed_model.model_name:
        raise EmbeddingModelMismatchError(f"built with {manifest['model_name']}, not {embed_model.model_name}")
    vectors = embed_model.get_text_embedding_batch(list(PROBE_TEXTS))
    if len(vectors[0]) != manifest["dimension"]:
        raise EmbeddingModelMismatchError(f"dimension {manifest['dimension']} on disk, {len(vectors[0])} now")
    if vectors != manifest["fingerprint"]:
        raise EmbeddingModelMismatchError("the fingerprint differs")
