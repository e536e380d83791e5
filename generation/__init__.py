"""Stylizers that turn search results into new images (InstantStyle, DiffStyle, StyO, DualStyleGAN, PARASOL
and a fast offline one). Works on images and embeddings; imports `indexer`, never `retrieval`."""
