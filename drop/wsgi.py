"""The served instance: `gunicorn drop.wsgi:app`."""

from drop.app import create_app

app = create_app()
