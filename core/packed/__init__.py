"""Compressed images (.xz, .gz, .bz2, .zst, single-image .zip): told by their magic,
read as bounded streams, never inflated past what the image inside declares."""
