"""Ranker: engagement events, candidate generation, LightGBM lambdarank, offline experiments."""
