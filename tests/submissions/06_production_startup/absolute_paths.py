"""Writes the live version's absolute path into CURRENT: every visible start works in place, but a moved folder no longer loads, and a copy of a folder still points at the original, so a damaged copy is not seen."""

EXPECTED = {"builds_when_empty": 0, "reloads_zero_calls": 3, "refuses_damaged": 0, "refuses_settings_change": 3, "syncs_changes": 4, "crash_keeps_last_good": 3, "same_text_documents": 2}

# %% answer_open
# replace:
    version = folder / "versions" / (folder / POINTER).read_text(encoding="utf-8").strip()
# with:
    version = Path((folder / POINTER).read_text(encoding="utf-8").strip())  # CURRENT holds the absolute path

# %% answer_start
# replace:
    (folder / (POINTER + ".tmp")).write_text(version.name, encoding="utf-8")
# with:
    (folder / (POINTER + ".tmp")).write_text(str(version.resolve()), encoding="utf-8")  # an absolute path
