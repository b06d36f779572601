"""Relies on refresh_ref_docs alone: edits and additions are synced, but a deleted document stays in the index, and retrieval keeps answering from it."""

EXPECTED = {"builds_when_empty": 3, "reloads_zero_calls": 3, "refuses_damaged": 3, "refuses_settings_change": 3, "syncs_changes": 0, "crash_keeps_last_good": 3, "same_text_documents": 0}

# %% answer_start
# replace:
        held = {node.ref_doc_id for node in index.vector_store.get_nodes(node_ids=None)}  # documents with chunks
        gone = held - {d.id_ for d in documents}
# with:
        gone = set()  # refresh_ref_docs is trusted to notice deletions (it does not)
