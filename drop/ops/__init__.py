"""The operator's side of drop: the /ops dashboard, its sessions and audit trail, and the
inspections (stats, listing, checks, purge) that both the dashboard and `drop-ops` use."""
