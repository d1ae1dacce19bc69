"""The served instance: `gunicorn drop.wsgi:app`."""

from drop.app import create_app
from drop.config import Config
from drop.ops.hourly_counts import HourlyCounts

config = Config.from_env()
# Each worker writes its hourly counts from a thread of its own, every few seconds.
app = create_app(config, hourly_counts=HourlyCounts(flush_every=config.stats_flush_seconds))
