"""Loads without embed_model=: the loaded index embeds questions with Settings.embed_model instead of the model that made the vectors."""

EXPECTED = {"rerun_embeds_nothing": 3, "changed_doc_only": 3, "new_doc_only": 2, "answers_updated_text": 0}

# %% answer_load
def load_ingested_index(storage_dir, embed_model):
    storage_context = StorageContext.from_defaults(persist_dir=str(Path(storage_dir) / "index"))
    return load_index_from_storage(storage_context)
