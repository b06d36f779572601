"""Copies the live collection into a new one for every change and changes the copy, as the first version of lesson 11 copied its version folder: everything is right and crash-safe, but a one-document edit writes the whole corpus again."""

EXPECTED = {"builds_when_empty": 3, "reloads_zero_calls": 3, "refuses_damaged": 3, "refuses_settings_change": 3, "syncs_changes": 4, "edit_costs_one_document": 0, "crash_keeps_last_good": 3, "same_text_documents": 2}

# %% answer_start
# replace:
    index = VectorStoreIndex.from_vector_store(ChromaVectorStore(chroma_collection=collection), embed_model=embed_model)
# with:
    if live is not None and collection.name == live["collection"]:  # change a copy, never the live collection
        copy = client.create_collection(f"c{int(names[-1][1:]) + 1:06d}", metadata=collection.metadata, embedding_function=None)
        everything = collection.get(include=["embeddings", "documents", "metadatas"])
        if everything["ids"]:
            copy.add(ids=everything["ids"], embeddings=everything["embeddings"], documents=everything["documents"], metadatas=everything["metadatas"])
        collection = copy
    index = VectorStoreIndex.from_vector_store(ChromaVectorStore(chroma_collection=collection), embed_model=embed_model)
