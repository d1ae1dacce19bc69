"""drop: a self-hosted, account-free file drop."""
