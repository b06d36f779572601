"""Forgets the early return when nothing changed: every restart copies the live version and publishes a new one. Nothing is embedded, but every start writes, and each is a crash point for no reason."""

EXPECTED = {"builds_when_empty": 3, "reloads_zero_calls": 0, "refuses_damaged": 3, "refuses_settings_change": 3, "syncs_changes": 4, "crash_keeps_last_good": 3, "same_text_documents": 2}

# %% answer_start
# replace:
        if not gone and all(index.docstore.get_document_hash(d.id_) == d.hash for d in documents):
            return index  # nothing changed: nothing embedded, nothing written
# with:
