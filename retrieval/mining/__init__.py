"""PARASOL triplet mining by cross-modal search (METHODS.md section 1a)."""
