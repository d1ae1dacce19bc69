"""Falcon resources of the /ops dashboard."""
