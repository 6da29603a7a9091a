"""Shared mechanisms used by every domain (and knowing none of them)."""
