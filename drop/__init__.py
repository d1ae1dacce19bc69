"""drop: a self-hosted, account-free file drop."""

from importlib.metadata import version

# The installed distribution's metadata: pyproject.toml's `version`, the one source.
__version__ = version("drop")
