"""Retires the chunks of edited documents only: edits and additions are synced, but a deleted document stays in the live version, and retrieval keeps answering from it."""

EXPECTED = {"builds_when_empty": 3, "reloads_zero_calls": 3, "refuses_damaged": 3, "refuses_settings_change": 3, "syncs_changes": 0, "edit_costs_one_document": 2, "crash_keeps_last_good": 3, "same_text_documents": 0}

# %% answer_start
# replace:
    retired = [c for doc_id, (h, chunks) in held.items() if getattr(current.get(doc_id), "hash", None) != h for c in chunks]
# with:
    retired = [c for doc_id, (h, chunks) in held.items() if doc_id in current and current[doc_id].hash != h for c in chunks]
