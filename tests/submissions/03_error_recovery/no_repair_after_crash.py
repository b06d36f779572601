"""Never runs the start-up check (the reference before issue 22): a process killed between the two renames of the swap leaves no persist_dir, so the next load_or_build rebuilds and pays for every chunk while the last good index sits beside it, and what killed persists leave is never removed."""

EXPECTED = {"loaded": 2, "built": 2, "corrupt": 3, "atomic_success": 1, "atomic_crash_while_writing": 2,
            "atomic_crash_during_swap": 0}

# %% answer_load_or_build
# replace:
    repair_interrupted_swap(persist_dir)  # a crash mid-swap may have set the last good index aside
# with:

# %% answer_persist_atomically
# replace:
    repair_interrupted_swap(target)  # what an earlier failure left is never in the way
# with:
