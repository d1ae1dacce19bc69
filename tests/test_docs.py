"""The docs build with no warning, and their generated reference matches the code.

The build is the one `make docs` runs (Sphinx, MyST, Furo; warnings are errors, nitpicky),
offline. The configuration reference is checked against the variables drop reads, found by
running `Config.from_env` on an environment that records every lookup and by reading the
package's `os.environ` reads; a variable missing from the docs, or described but no longer
read, fails here with its name.
"""

from __future__ import annotations

import html
import re
import subprocess
import sys
from pathlib import Path

import pytest

from drop.config import Config
from drop.resources.api_openapi import api_document

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
sys.path.insert(0, str(DOCS / "_ext"))

import drop_reference  # noqa: E402
import drop_settings  # noqa: E402

VARIABLE = re.compile(r"\b(?:DROP|PROMETHEUS)_[A-Z0-9_]*[A-Z0-9]\b")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """The HTML docs, built once for this module exactly as `make docs` builds them."""
    out = tmp_path_factory.mktemp("docs-html")
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-E", "-W", "--keep-going", "-n", "-q"]
        + ["-b", "html", str(DOCS), str(out)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == "", result.stderr  # not a single warning
    return out


def test_docs_build_without_a_warning(built):
    assert (built / "index.html").is_file()
    for guide in ("install", "deploy", "operate", "backup", "upgrade", "rotate-secrets"):
        assert (built / f"{guide}.html").is_file(), guide


def test_configuration_page_lists_every_variable_drop_reads(built):
    page = (built / "reference" / "configuration.html").read_text("utf-8")
    for name in drop_reference.variables_read():
        assert (
            f'<code class="docutils literal notranslate"><span class="pre">{name}</span>' in page
        ), name


def test_configuration_page_shows_defaults_from_config(built):
    page = (built / "reference" / "configuration.html").read_text("utf-8")
    # Config's own defaults, in words beside the figure.
    assert "16777216</span></code> (16 MiB)" in page
    assert "604800</span></code> (7 days)" in page


def test_cli_page_has_every_command(built):
    import typer

    from drop.cli import cli

    page = html.unescape((built / "reference" / "cli.html").read_text("utf-8"))
    root = typer.main.get_command(cli)
    context = root.context_class(root, info_name="drop-ops")
    for name in root.list_commands(context):
        assert f"drop-ops {name}" in page, name
        command = root.get_command(context, name)
        first_line = (command.help or "").strip().splitlines()[0]
        assert first_line.split(":")[0] in page, name


def test_api_page_has_every_operation(built):
    page = html.unescape((built / "reference" / "api.html").read_text("utf-8"))
    document = api_document(Config.from_env({}))
    for path, item in document["paths"].items():
        for method in drop_reference.METHODS:
            if method in item:
                assert f"{method.upper()} <code" in page, (method, path)
                assert path.replace("{", "").split("/")[-1] in page, path
                if "summary" in item[method]:
                    assert item[method]["summary"].split("(")[0].strip() in page, path


def test_benchmark_results_page_shows_every_dated_file(built):
    page = (built / "bench-results.html").read_text("utf-8")
    files = sorted((REPO / "bench" / "results").glob("[0-9][0-9][0-9][0-9]-*.md"))
    assert files
    for path in files:
        assert path.name in page, path.name


def test_configuration_reference_matches_what_config_reads():
    assert drop_reference.settings_problems() == []


def test_a_variable_missing_from_the_reference_is_named():
    documented = drop_settings.settings()
    del documented["DROP_SECRET_KEY"]
    assert drop_reference.settings_problems(documented) == [
        "DROP_SECRET_KEY is read by drop but not described in docs/_ext/drop_settings.py",
        "Config.secret_key is filled by no documented variable",
    ]


def test_a_variable_drop_no_longer_reads_is_named():
    documented = drop_settings.settings() | {"DROP_GONE": ("gone", "", "Gone.")}
    assert drop_reference.settings_problems(documented) == [
        "DROP_GONE is described in docs/_ext/drop_settings.py but drop never reads it"
    ]


def test_config_reads_are_recorded_from_from_env():
    # Both ways a variable reaches drop: Config, and the process settings outside it.
    assert {"DROP_DATA_DIR", "DROP_SECRET_KEY", "DROP_SCAN_MODE"} <= drop_reference.config_reads()
    assert {"DROP_BIND", "DROP_WEB_WORKERS", "DROP_WEB_THREADS", "PROMETHEUS_MULTIPROC_DIR"} <= set(
        drop_reference.process_reads()
    )


def test_readme_is_at_most_300_lines():
    lines = (REPO / "README.md").read_text("utf-8").splitlines()
    assert len(lines) <= 300, len(lines)


def test_readme_and_guides_name_only_variables_drop_reads():
    real = drop_reference.variables_read()
    for path in [REPO / "README.md", *sorted(DOCS.rglob("*.md"))]:
        if "_build" in path.parts:
            continue
        named = set(VARIABLE.findall(path.read_text("utf-8")))
        assert named <= real, (path.name, sorted(named - real))


def test_readme_links_point_at_files_that_exist():
    readme = (REPO / "README.md").read_text("utf-8")
    for target in re.findall(r"\]\(([^)#]+)\)", readme):
        if not target.startswith("http"):
            assert (REPO / target).exists(), target
