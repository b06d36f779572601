"""No manifest, no error: an index without a manifest is accepted silently instead of raising FileNotFoundError."""

EXPECTED = {"manifest_written": 2, "name_mismatch": 2, "dimension_mismatch": 2, "fingerprint_mismatch": 2,
            "tolerance": 2, "missing_manifest": 0, "load_checked_index": 2, "versioned_persist_dir": 2}

# %% answer_check
def check_embedding_compatibility(persist_dir, embed_model):
    path = Path(persist_dir) / MANIFEST_NAME
    if not path.is_file():
        return
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if manifest["model_name"] != embed_model.model_name:
        raise EmbeddingModelMismatchError(f"built with {manifest['model_name']}, not {embed_model.model_name}")
    vectors = np.array(embed_model.get_text_embedding_batch(list(PROBE_TEXTS)))
    if vectors.shape[1] != manifest["dimension"]:
        raise EmbeddingModelMismatchError(f"dimension {manifest['dimension']} on disk, {vectors.shape[1]} now")
    stored = np.array(manifest["fingerprint"])
    cosines = (stored * vectors).sum(axis=1) / (np.linalg.norm(stored, axis=1) * np.linalg.norm(vectors, axis=1))
    if cosines.min() < MIN_COSINE:
        raise EmbeddingModelMismatchError(f"the fingerprint differs (lowest cosine {cosines.min():.3f})")
