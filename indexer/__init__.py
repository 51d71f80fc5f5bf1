"""Indexer: FAISS (embedded default) and Qdrant behind one interface, with a parquet catalog."""
