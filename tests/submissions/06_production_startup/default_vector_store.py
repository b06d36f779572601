"""Keeps the vectors in LlamaIndex's default JSON vector store, not in Chroma: everything else works, but the index is not on the maintained store the exercise asks for."""

EXPECTED = {"builds_when_empty": 0, "reloads_zero_calls": 3, "refuses_damaged": 3, "refuses_settings_change": 3, "syncs_changes": 4, "crash_keeps_last_good": 3, "same_text_documents": 2}

# %% answer_open
# replace:
VERSION_FILES = ("manifest.json", "index/docstore.json", "index/index_store.json", "chroma/chroma.sqlite3")
# with:
VERSION_FILES = ("manifest.json", "index/docstore.json", "index/index_store.json", "index/default__vector_store.json")
# replace:
    client = chromadb.PersistentClient(path=str(version / "chroma"), settings=stores.chroma_settings())
# with:
# replace:
        collection = client.create_collection("documents", metadata=stores.CHROMA_METADATA, embedding_function=None)
        context = StorageContext.from_defaults(vector_store=ChromaVectorStore(chroma_collection=collection))
        return VectorStoreIndex.from_documents(documents, storage_context=context, embed_model=embed_model,
                                               transformations=[splitter])
    store = ChromaVectorStore(chroma_collection=client.get_collection("documents", embedding_function=None))
    context = StorageContext.from_defaults(vector_store=store, persist_dir=str(version / "index"))
# with:
        return VectorStoreIndex.from_documents(documents, embed_model=embed_model, transformations=[splitter])
    context = StorageContext.from_defaults(persist_dir=str(version / "index"))

# %% answer_start
# replace:
        held = {node.ref_doc_id for node in index.vector_store.get_nodes(node_ids=None)}  # documents with chunks
        gone = held - {d.id_ for d in documents}
# with:
        gone = set(index.ref_doc_info) - {d.id_ for d in documents}  # this docstore also hashes every node
# replace:
            index.delete_ref_doc(doc_id)
# with:
            index.delete_ref_doc(doc_id, delete_from_docstore=True)
