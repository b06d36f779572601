"""Loads without embed_model=: the loaded index embeds questions with Settings.embed_model instead of the model that made the vectors."""

EXPECTED = {"rerun_embeds_nothing": 3, "changed_doc_only": 3, "new_doc_only": 2, "answers_updated_text": 0,
            "deleted_doc_removed": 2, "survives_crash": 3, "same_text_documents": 0}

# %% answer_load
def load_ingested_index(storage_dir, embed_model):
    version = current_version(Path(storage_dir))
    if version is None:
        raise FileNotFoundError(f"{storage_dir} holds no ingested index: run ingest first")
    return load_index_from_storage(StorageContext.from_defaults(persist_dir=str(version / "index")))


def current_version(storage_dir):
    pointer = storage_dir / "CURRENT"
    return storage_dir / pointer.read_text(encoding="utf-8").strip() if pointer.is_file() else None
