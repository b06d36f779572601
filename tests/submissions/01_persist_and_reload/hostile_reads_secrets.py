"""Hostile: a correct submission that also prints the grader's OpenAI key and every *_KEY/_TOKEN variable
it can see. Graded code runs without them, so nothing leaks; the points are unaffected."""

EXPECTED = {"persist_writes_files": 2, "reload_zero_calls": 2, "reload_from_disk": 3, "reload_uses_given_model": 2}

# %% answer_build_and_persist
import os

print({name: value for name, value in os.environ.items() if name.startswith("OPENAI") or name.endswith(("_KEY", "_TOKEN"))})


def build_and_persist(documents, persist_dir, embed_model):
    index = VectorStoreIndex.from_documents(documents, embed_model=embed_model)
    index.storage_context.persist(persist_dir=str(persist_dir))
    return index
