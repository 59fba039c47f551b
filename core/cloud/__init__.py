"""OpenStack: logging in (Keystone) and the image service (Glance)."""
