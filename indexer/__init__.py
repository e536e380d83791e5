"""StyleLens indexer: image corpora -> catalog (SQLAlchemy) + one FAISS index per embedding space.

Lowest layer of the project: `retrieval`, `generation` and `ui` build on it; it imports none of them.
"""
