"""Hostile: replaces persistlab.usage and persistlab.metered with objects that always show zero, and
re-embeds on load. Every test that counts calls detects the replacement and fails."""

EXPECTED = {"persist_writes_files": 0, "reload_zero_calls": 0, "reload_from_disk": 0, "reload_uses_given_model": 0}

# %% answer_load_persisted_index
import contextlib


@contextlib.contextmanager
def _always_zero():
    yield persistlab.learning.meter.Usage()


persistlab.usage = persistlab.learning.meter.Usage()
persistlab.metered = _always_zero


def load_persisted_index(persist_dir, embed_model):
    storage_context = StorageContext.from_defaults(persist_dir=str(persist_dir))
    return VectorStoreIndex(list(storage_context.docstore.docs.values()), embed_model=embed_model)
