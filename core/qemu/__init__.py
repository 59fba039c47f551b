"""The qemu-img layer: running it, and reading what it says."""
