"""Sanad retrieval: Arabic analysis, sentence splitting, BM25 index and storage."""
