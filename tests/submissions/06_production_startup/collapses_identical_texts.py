"""Finds deleted documents from `docstore.get_all_document_hashes()`, which maps each hash to one document id: of two documents with the same text only one is listed, so deleting the other leaves it in the index, answering."""

EXPECTED = {"builds_when_empty": 3, "reloads_zero_calls": 3, "refuses_damaged": 3, "refuses_settings_change": 3, "syncs_changes": 4, "crash_keeps_last_good": 3, "same_text_documents": 0}

# %% answer_start
# replace:
        held = {node.ref_doc_id for node in index.vector_store.get_nodes(node_ids=None)}  # documents with chunks
        gone = held - {d.id_ for d in documents}
# with:
        gone = set(index.docstore.get_all_document_hashes().values()) - {d.id_ for d in documents}
