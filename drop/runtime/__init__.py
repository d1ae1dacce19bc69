"""How drop runs: the gunicorn worker, memory, logs, metrics, heartbeat, breaker."""
