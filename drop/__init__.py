"""drop: a self-hosted, account-free file drop."""

__version__ = "1.0.0"
