"""Table and list models."""
