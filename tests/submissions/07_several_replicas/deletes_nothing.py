"""Relies on refresh_ref_docs alone: edits and additions are synced, but a deleted document keeps its chunks and its hash in every new version."""

EXPECTED = {"builds_and_reloads": 3, "syncs_changes": 0, "three_replicas_at_once": 4, "killed_writer": 3}

# %% answer_start
# replace:
        gone = sorted(held - {d.id_ for d in documents})  # by id: documents sharing a text share a hash
# with:
        gone = []  # refresh_ref_docs is trusted to notice deletions (it does not)
