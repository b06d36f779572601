"""Finds deleted documents by their hash: a held document is gone once its text is no longer among the current ones. Of two documents with the same text, deleting one leaves it in the index, answering, since its copy's hash is still current."""

EXPECTED = {"builds_when_empty": 3, "reloads_zero_calls": 3, "refuses_damaged": 3, "refuses_settings_change": 3, "syncs_changes": 4, "edit_costs_one_document": 2, "crash_keeps_last_good": 3, "same_text_documents": 0}

# %% answer_start
# replace:
    retired = [c for doc_id, (h, chunks) in held.items() if getattr(current.get(doc_id), "hash", None) != h for c in chunks]
# with:
    hashes = {d.hash for d in current.values()}  # the texts there are now
    retired = [c for doc_id, (h, chunks) in held.items() if h not in hashes for c in chunks]
