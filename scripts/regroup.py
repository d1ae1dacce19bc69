"""Regroup drop/ into packages named for their concerns (issue 19): `git mv` each module, then
rewrite every import and every string naming a module, in drop/, tests/, bench/, docs/ and ops/.

Mechanical and re-runnable: a module already moved is skipped, and a name already rewritten is
left alone. Run from the repository's top: `python scripts/regroup.py`.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

# Old module -> new module, one pair a line ("old new"): kept as text so that this script's own
# rewriting can never touch it.
MOVES_TEXT = """
drop.allocator drop.runtime.allocator
drop.breaker drop.runtime.breaker
drop.heartbeat drop.runtime.heartbeat
drop.logs drop.runtime.logs
drop.metrics drop.runtime.metrics
drop.multiprocess drop.runtime.multiprocess
drop.serving drop.runtime.serving
drop.database drop.db.database
drop.group_commit drop.db.group_commit
drop.migrations drop.db.migrations
drop.models drop.db.models
drop.statements drop.db.statements
drop.disk drop.storage.disk
drop.api_tokens drop.protection.api_tokens
drop.blocks drop.protection.blocks
drop.clients drop.protection.clients
drop.limits drop.protection.limits
drop.reports drop.protection.reports
drop.scanning drop.protection.scanning
drop.scans drop.protection.scans
drop.uploaders drop.protection.uploaders
drop.ops.audit drop.protection.audit
drop.drops drop.drops.lifecycle
drop.blob_deletion drop.drops.blob_deletion
drop.byte_ranges drop.drops.byte_ranges
drop.downloads drop.drops.downloads
drop.filenames drop.drops.filenames
drop.grants drop.drops.grants
drop.raw_uploads drop.drops.raw_uploads
drop.server_key drop.drops.server_key
drop.uploads drop.drops.uploads
drop.tus drop.tus.records
drop.partial_uploads drop.tus.partials
drop.storage.s3_partials drop.tus.s3_partials
drop.error_cache drop.web.error_cache
drop.errors drop.web.errors
drop.middleware drop.web.connections
drop.pages drop.web.pages
drop.qr drop.web.qr
drop.static drop.web.static
drop.templates drop.web.templates
drop.timestamps drop.clock
drop.hourly_counts drop.ops.hourly_counts
drop.nginx_conf drop.ops.nginx_conf
drop.ops.routes drop.resources.ops.routes
drop.ops.resources drop.resources.ops
drop.ops.resources.actions drop.resources.ops.actions
drop.ops.resources.audit drop.resources.ops.audit
drop.ops.resources.auth drop.resources.ops.auth
drop.ops.resources.blocks drop.resources.ops.blocks
drop.ops.resources.dashboard drop.resources.ops.dashboard
drop.ops.resources.edits drop.resources.ops.edits
drop.ops.resources.reports drop.resources.ops.reports
drop.ops.resources.scan drop.resources.ops.scan
drop.ops.resources.tokens drop.resources.ops.tokens
drop.ops.block_command drop.cli.block
"""
MOVES = dict(line.split() for line in MOVES_TEXT.strip().splitlines())
NEW_NAMES = set(MOVES.values())
# Modules that become a package of the same name: their file moves, their name stays.
SAME_NAME = {"drop.drops", "drop.tus", "drop.cli"}
# Old module names that are also a Drop's fields (`drop.downloads`): never rewritten in code.
DROP_FIELDS = ("drop.downloads",)
IMPORT_LINE = re.compile(r"\s*from drop(\.\w+)* import ")

PACKAGES = {
    "drop/runtime": "How drop runs: gunicorn worker, memory, logs, metrics, heartbeat, breaker.",
    "drop/db": "The database: connections, models, migrations, prepared statements, group commit.",
    "drop/protection": (
        "What keeps drop from being abused: limits, blocks, uploaders and their tokens,\n"
        "client addresses, abuse reports, malware scanning, and the audit trail of it all."
    ),
    "drop/drops": "A drop's life: created by an upload, given out by downloads, ended, deleted.",
    "drop/tus": "Resumable uploads (tus 1.0): the upload records and the bytes received so far.",
    "drop/web": "What every HTTP answer has in common: middleware, errors, pages, static files.",
    "drop/resources/ops": "Falcon resources of the /ops dashboard, and the routes that mount them.",
}

ROOTS = [
    "drop", "tests", "bench", "docs", "scripts", "ops", "Procfile", "Makefile",
    "pyproject.toml", "README.md", "Containerfile", "compose.yaml", ".ci",
]  # fmt: skip
SUFFIXES = {".py", ".md", ".toml", ".conf", ".service", ".txt", ".yaml", ".yml", ".cfg", ".sh"}


def git(*args: str) -> None:
    subprocess.run(["git", *args], check=True)


def move_files() -> None:
    """`git mv` every module not moved yet, and give each new package its docstring."""
    if Path("drop/cli.py").exists():
        git("mv", "drop/cli.py", "drop/cli_module.py")
        Path("drop/cli").mkdir(exist_ok=True)
        git("mv", "drop/cli_module.py", "drop/cli/__init__.py")
    for old, new in MOVES.items():
        src = Path(*old.split(".")).with_suffix(".py")
        if old == "drop.ops.resources":
            src = Path("drop/ops/resources/__init__.py")
        if old in SAME_NAME and old != "drop.cli":
            src = Path(*old.split(".")).with_suffix(".py")
        dst = Path(*new.split(".")).with_suffix(".py")
        if new == "drop.resources.ops":
            dst = Path("drop/resources/ops/__init__.py")
        if src.is_file() and not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            git("mv", str(src), str(dst))
    for directory, doc in PACKAGES.items():
        init = Path(directory, "__init__.py")
        if not init.exists():
            init.parent.mkdir(parents=True, exist_ok=True)
            init.write_text(f'"""{doc}"""\n')
            git("add", str(init))


def children_of(name: str) -> set[str]:
    """Submodule names under `name`, so `drop.drops` is not taken for `drop.drops.uploads`."""
    prefix = name + "."
    names = set(MOVES) | NEW_NAMES
    return {n[len(prefix) :].split(".")[0] for n in names if n.startswith(prefix)}


def rewrite_from_imports(text: str) -> str:
    """`from drop import drops` -> `from drop.drops import lifecycle as drops`, and the like."""
    pattern = re.compile(r"^([ \t]*)from (drop(?:\.\w+)*) import (\([^)]*\)|[^\n]*)$", re.M)

    def fix(match: re.Match) -> str:
        indent, source, names = match.groups()
        body = names.strip()
        comment = ""
        if body.startswith("("):
            body = body[1:-1]
        elif "#" in body:
            body, comment = body.split("#", 1)
            comment = "  #" + comment
        items = []
        for raw in re.sub(r"#[^\n]*", "", body).split(","):
            raw = raw.strip()
            if raw:
                name, _, alias = raw.partition(" as ")
                items.append((name.strip(), alias.strip() or None))
        groups: dict[str, list[str]] = {}
        changed = False
        for name, alias in items:
            full = f"{source}.{name}"
            spelled = f"{name} as {alias}" if alias else name
            if full in NEW_NAMES or source in NEW_NAMES:
                groups.setdefault(source, []).append(spelled)
            elif full in MOVES:
                parent, _, last = MOVES[full].rpartition(".")
                local = alias or name
                groups.setdefault(parent, []).append(
                    last if last == local else f"{last} as {local}"
                )
                changed = True
            elif source in MOVES:
                groups.setdefault(MOVES[source], []).append(spelled)
                changed = True
            else:
                groups.setdefault(source, []).append(spelled)
        if not changed:
            return match.group(0)
        lines = []
        for parent, group in groups.items():
            line = f"{indent}from {parent} import {', '.join(group)}"
            if len(line) > 99:
                inner = "".join(f"{indent}    {g},\n" for g in group)
                line = f"{indent}from {parent} import (\n{inner}{indent})"
            lines.append(line)
        return "\n".join(lines) + comment

    return pattern.sub(fix, text)


def rewrite_names(text: str, keep=()) -> str:
    """Dotted module names and their file paths, in strings, comments and docs."""
    for old in sorted(MOVES, key=len, reverse=True):
        if old in keep:
            continue
        new = MOVES[old]
        skip = children_of(old) | children_of(new) | {new.rpartition(".")[2]}
        guard = "".join(rf"(?!\.{c}\b)" for c in sorted(skip))
        text = re.sub(rf"(?<![\w./]){re.escape(old)}\b{guard}(?!\.py)", new, text)
        old_path, new_path = old.replace(".", "/"), new.replace(".", "/")
        if old == "drop.ops.resources":
            text = re.sub(r"(?<![\w/])drop/ops/resources/", "drop/resources/ops/", text)
        else:
            text = re.sub(rf"(?<![\w/]){re.escape(old_path)}\.py\b", new_path + ".py", text)
    return text


def files() -> list[Path]:
    out = []
    for root in ROOTS:
        p = Path(root)
        candidates = [p] if p.is_file() else p.rglob("*") if p.is_dir() else []
        for f in candidates:
            skipped = {"node_modules", "_build", "results", "assets", "bundled", "__pycache__"}
            if f.is_file() and (f.suffix in SUFFIXES or f == p) and not skipped & set(f.parts):
                out.append(f)
    return out


def main() -> None:
    move_files()
    for f in files():
        if f.resolve() == Path(__file__).resolve():
            continue
        try:
            text = f.read_text()
        except UnicodeDecodeError:
            continue
        if f.suffix == ".py":
            # Import statements are rewritten whole; names in the rest of the file one by one.
            # `drop.downloads` in code is a Drop's field, not the old module: left alone.
            new = rewrite_from_imports(text)
            new = "".join(
                line
                if IMPORT_LINE.match(line)
                else rewrite_names(line, keep=DROP_FIELDS if "drop.downloads" in line else ())
                for line in new.splitlines(keepends=True)
            )
        else:
            new = rewrite_names(text)
        if new != text:
            f.write_text(new)


if __name__ == "__main__":
    main()
