"""Sphinx configuration for drop's documentation (MyST Markdown, the Furo theme).

Built offline: no intersphinx, no remote images. `make docs` builds it with warnings as
errors; tests/test_docs.py runs the same build.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

from drop import __version__ as _version  # noqa: E402

project = "drop"
author = "drop's authors"
copyright = "drop's authors"
release = _version
version = _version

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
