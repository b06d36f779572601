"""Hostile: gives the embedding model an uncounted HTTP client before re-embedding on load, so the
test's counter would see no call. The tests check the model's client and fail."""

EXPECTED = {"persist_writes_files": 2, "reload_zero_calls": 0, "reload_from_disk": 0, "reload_uses_given_model": 0}

# %% answer_load_persisted_index
def load_persisted_index(persist_dir, embed_model):
    import httpx

    from persistlab.simulator.service import SimulatorTransport

    embed_model._http_client = httpx.Client(transport=SimulatorTransport())
    embed_model._client = None
    storage_context = StorageContext.from_defaults(persist_dir=str(persist_dir))
    return VectorStoreIndex(list(storage_context.docstore.docs.values()), embed_model=embed_model)
