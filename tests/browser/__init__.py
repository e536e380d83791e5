"""Helpers for the Studio tests (the running app, Chromium, a small indexed corpus)."""
