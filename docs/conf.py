"""Sphinx configuration for drop's documentation (MyST Markdown, the Furo theme).

Built offline: no intersphinx, no remote images. `make docs` builds it with warnings as
errors; tests/test_docs.py runs the same build.
"""

import sys
from importlib.metadata import version as installed_version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

project = "drop"
author = "drop's authors"
copyright = "drop's authors"
# The one version, pyproject.toml's, as installed (`make setup` installs drop editable).
release = version = installed_version("drop")

extensions = ["myst_parser", "drop_reference"]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build", "README.md"]
myst_enable_extensions = ["colon_fence", "deflist"]
# Links like [text](operate.md#the-dashboard) resolve to headings' anchors.
myst_heading_anchors = 3
# Options and code read as typed: no curly quotes or dashes.
smartquotes = False

html_theme = "furo"
html_title = f"drop {version}"
html_static_path = []
# Nothing is fetched at build time, and the pages load nothing from another host.
html_theme_options = {"navigation_with_keys": True}
