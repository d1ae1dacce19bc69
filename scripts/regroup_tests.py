"""Regroup tests/ to mirror drop's packages (issue 19): `git mv` each test module into the
folder of the package it tests, support code into tests/support/, then rewrite every
`tests.*` import and `tests/*.py` path. Mechanical and re-runnable, like scripts/regroup.py.

conftest.py stays at the top so its fixtures apply everywhere; so do the tests of the
top-level modules (config, wording) and of the whole system (live server, browser, docs,
image, wheel, bench).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

SUPPORT = {
    "support": "common",
    "browser_support": "browser",
    "clamd_server": "clamd_server",
    "cutting_relay": "cutting_relay",
    "html_checks": "html_checks",
    "log_checks": "log_checks",
    "nginx": "nginx",
    "ops_support": "ops",
    "page_support": "page",
    "postgres_server": "postgres_server",
    "redis_server": "redis_server",
    "schemathesis_hooks": "schemathesis_hooks",
    "seaweedfs": "seaweedfs",
    "slow_clients": "slow_clients",
    "tcp_listener": "tcp_listener",
    "tus_client": "tus_client",
    "tus_support": "tus",
}

# Folder -> the test modules (without "test_") of the package it mirrors.
FOLDERS = {
    "web": """api_errors bad_inputs bad_inputs_live error_cache error_cache_embedded
        openapi page_errors page_html recent_answers schemathesis static html_checks
        metrics health""",
    "drops": """api_download api_upload accel_redirect filenames large_uploads live_tokens
        page_delete page_resumable page_share page_upload raw_upload raw_upload_live
        resume_downloads resume_live sharex sweep task_results""",
    "tus": "tus_gates tus_live tus_memory tus_protocol tus_s3 tus_s3_nodes",
    "storage": "s3_nginx s3_nodes s3_resume s3_storage storage_migrate disk_space",
    "protection": """abuse_browser abuse_reports api_tokens api_tokens_live blocks limits
        limits_live password_guessing scan_live scanning scans upload_limits uploader""",
    "db": "database_outage group_commit migrate_lock statements",
    "runtime": """allocator breaker gunicorn_conf heartbeat log_secrets queue_failure
        queue_failure_live request_logs slow_clients worker_quiet""",
    "cli": """backup cli_audit cli_block cli_check cli_ops cli_scan cli_tokens version
        procfile env_example""",
    "ops": """deploy_nginx deploy_tls hourly_counts hourly_counts_live nginx_logs ops_audit
        ops_browser ops_charts ops_charts_browser ops_dashboard ops_edits ops_files
        ops_login_limit ops_sessions ops_tokens purge_race tally""",
}

MODULES = {old: f"support.{new}" for old, new in SUPPORT.items()}
for folder, names in FOLDERS.items():
    for name in names.split():
        MODULES[f"test_{name}"] = f"{folder}.test_{name}"

ROOTS = ["tests", "docs", "bench", "scripts", "Makefile", "README.md", ".ci", "pyproject.toml"]
SUFFIXES = {".py", ".md", ".toml", ".txt", ".sh", ".cfg", ".yaml", ".yml"}


def git(*args: str) -> None:
    subprocess.run(["git", *args], check=True)


def move_files() -> None:
    for package in ["support", *FOLDERS]:
        init = Path("tests", package, "__init__.py")
        if not init.exists():
            init.parent.mkdir(parents=True, exist_ok=True)
            init.write_text("")
            git("add", str(init))
    for old, new in MODULES.items():
        src = Path("tests", f"{old}.py")
        dst = Path("tests", *new.split(".")).with_suffix(".py")
        if src.is_file() and not dst.exists():
            git("mv", str(src), str(dst))


def rewrite(text: str) -> str:
    for old in sorted(MODULES, key=len, reverse=True):
        new = MODULES[old]
        text = re.sub(rf"\btests\.{old}\b(?!\.\w)", f"tests.{new}", text)
        text = re.sub(rf"(?<![\w/])tests/{old}\.py\b", f"tests/{new.replace('.', '/')}.py", text)
        parent, _, last = new.rpartition(".")
        text = re.sub(
            rf"^(\s*)from tests import {old}\b",
            rf"\1from tests.{parent} import {last} as {old}",
            text,
            flags=re.M,
        )
    return text


def main() -> None:
    move_files()
    me = Path(__file__).resolve()
    for root in ROOTS:
        p = Path(root)
        for f in [p] if p.is_file() else p.rglob("*") if p.is_dir() else []:
            if not f.is_file() or f.resolve() == me or "_build" in f.parts:
                continue
            if f.suffix not in SUFFIXES and f != p:
                continue
            try:
                text = f.read_text()
            except UnicodeDecodeError:
                continue
            new = rewrite(text)
            if new != text:
                f.write_text(new)
    # tests/support/common.py is one folder deeper than tests/support.py was.
    common = Path("tests/support/common.py")
    text = common.read_text()
    common.write_text(
        text.replace(
            "ROOT = Path(__file__).resolve().parent.parent\n",
            "ROOT = Path(__file__).resolve().parents[2]\n",
        )
    )


if __name__ == "__main__":
    main()
