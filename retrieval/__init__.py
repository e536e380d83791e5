"""Queries over a workspace's indexes: text, images, catalog ids and weighted combinations, in the content
space, the style space or both at once."""
