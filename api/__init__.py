"""FastAPI service over the encoder, indexer and ranker."""
