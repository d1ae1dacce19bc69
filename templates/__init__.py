"""Marks templates/ as the package drop.bundled.templates (setup.py maps it into the wheel), so
that importlib.resources finds it the same way in a checkout and in an installed wheel."""
