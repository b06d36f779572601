"""Syncs at every start without the writer's lock: replicas starting together each sync the same change, and a replica that should have served what was published writes a version of its own."""

EXPECTED = {"builds_and_reloads": 3, "syncs_changes": 4, "three_replicas_at_once": 0, "killed_writer": 3}

# %% answer_start
# replace:
        if not lock.execute(sa.text("select pg_try_advisory_lock(:k)"), {"k": WRITER_LOCK}).scalar():
            return open_published_index(url, embed_model, splitter)  # another replica is syncing: serve what is published
# with:
        # every replica syncs: the versions are separate, so they cannot clash (they can)
