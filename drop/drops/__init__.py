"""A drop's life: created by an upload, given out by downloads, ended, deleted."""
