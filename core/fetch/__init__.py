"""Downloading: HTTP, the verified download, checksums, fetch-to-raw."""
