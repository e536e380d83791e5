"""Batch indexing: scan -> plan against the catalog -> decode in workers -> embed in batches -> write."""
