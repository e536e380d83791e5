"""The catalog: what was indexed, where it came from, and which index snapshot is current (SQLAlchemy 2.x)."""
