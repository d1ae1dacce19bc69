"""A local Sphinx extension: the reference pages that are generated from drop itself.

A page holds a marker line, `<!-- drop-reference: NAME -->`, and on `source-read` the
marker becomes Markdown built from the code at build time, so nothing committed can
drift from it:

- `configuration`: every variable drop reads (found by `variables_read`), its default
  (from `Config.from_env({})`) and its meaning (`drop_settings.py` beside this file);
- `cli`: every `drop-ops` command, from the Typer app's click commands (their usage,
  docstrings and options, as `--help` prints them);
- `api`: every operation of the OpenAPI document the server serves (`drop/openapi.json`
  with the default limits filled in);
- `bench-results`: the dated result files of `bench/results/`, newest first.

Nothing is fetched from the network.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import re
from pathlib import Path

import drop_settings
from sphinx.util import logging

log = logging.getLogger(__name__)

MARKER = re.compile(r"^<!-- drop-reference: ([a-z-]+) -->$", re.MULTILINE)
REPO = Path(__file__).resolve().parents[2]
# Names of process settings and of Config's variables share these prefixes; the nginx
# template's placeholders (DROP_LISTEN, ...) are never read from the environment.
PREFIXES = ("DROP_", "PROMETHEUS_")


# --- Which variables drop reads -------------------------------------------------------


class _RecordingEnv(dict):
    """An empty environment that remembers every name looked up in it."""

    def __init__(self):
        super().__init__()
        self.names: set[str] = set()

    def get(self, name, default=None):
        self.names.add(name)
        return default

    def __getitem__(self, name):
        self.names.add(name)
        raise KeyError(name)

    def __contains__(self, name):
        self.names.add(name)
        return False


def config_reads() -> set[str]:
    """The variables `Config.from_env` looks up (with nothing set, so every lookup runs)."""
    from drop.config import Config

    env = _RecordingEnv()
    Config.from_env(env)
    return env.names


def process_reads() -> dict[str, list[str]]:
    """Variables read from `os.environ` (or a Typer `envvar=`) outside `Config`, and where."""
    import drop

    files = sorted(Path(drop.__file__).resolve().parent.rglob("*.py"))
    files += sorted((REPO / "ops").glob("*.py"))
    found: dict[str, list[str]] = {}
    for path in files:
        tree = ast.parse(path.read_text("utf-8"), str(path))
        constants = _module_constants(tree)
        for node in ast.walk(tree):
            for name_node in _environment_names(node):
                name = _string(name_node, constants)
                if name and name.startswith(PREFIXES):
                    where = f"{_shown(path)}:{node.lineno}"
                    found.setdefault(name, []).append(where)
    return found


def _environment_names(node: ast.AST):
    """The name arguments of `os.environ.get(X)`, `os.environ[X]` and `envvar=X`."""
    if isinstance(node, ast.Call):
        func = node.func
        if (
            isinstance(func, ast.Attribute)
            and func.attr in ("get", "pop", "setdefault")
            and _is_os_environ(func.value)
            and node.args
        ):
            yield node.args[0]
        if isinstance(func, ast.Attribute) and func.attr == "getenv" and node.args:
            yield node.args[0]
        for keyword in node.keywords:
            if keyword.arg == "envvar":
                yield keyword.value
    if (
        isinstance(node, ast.Subscript)
        and isinstance(node.ctx, ast.Load)
        and _is_os_environ(node.value)
    ):
        yield node.slice


def _is_os_environ(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
        isinstance(node, ast.Name) and node.id == "environ"
    )


def _module_constants(tree: ast.Module) -> dict[str, str]:
    constants = {}
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            constants[node.targets[0].id] = node.value.value
    return constants


def _string(node: ast.AST, constants: dict[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    return None


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return path.name


def variables_read() -> set[str]:
    """Every variable drop reads: Config's and the process settings."""
    return config_reads() | set(process_reads())


def settings_problems(documented: dict[str, tuple] | None = None) -> list[str]:
    """How `documented` (default: `drop_settings`) disagrees with the code; empty when the
    reference is complete."""
    from drop.config import Config

    documented = drop_settings.settings() if documented is None else documented
    in_config = config_reads()
    in_processes = set(process_reads()) - in_config
    fields = {field.name for field in dataclasses.fields(Config)}
    problems = [
        f"{name} is read by drop but not described in docs/_ext/drop_settings.py"
        for name in sorted((in_config | in_processes) - set(documented))
    ]
    problems += [
        f"{name} is described in docs/_ext/drop_settings.py but drop never reads it"
        for name in sorted(set(documented) - in_config - in_processes)
    ]
    named_fields = []
    for name, (field, *_rest) in sorted(documented.items()):
        if name in in_config and field not in fields:
            problems.append(f"{name}: {field!r} is not a field of drop.config.Config")
        if name in in_processes and field is not None:
            problems.append(f"{name} is read outside Config: its field must be None")
        if name in in_processes and len(_rest) < 3:
            problems.append(f"{name} is read outside Config: give its default in words")
        named_fields.append(field)
    problems += [
        f"Config.{field} is filled by no documented variable"
        for field in sorted(fields - set(named_fields))
    ]
    return problems


# --- The configuration page ------------------------------------------------------------

UNITS = (
    (1024**3, "GiB"),
    (1024**2, "MiB"),
    (1024, "KiB"),
)
SPANS = ((86400, "day"), (3600, "hour"), (60, "minute"))


def _default(value, unit: str) -> str:
    if value is None or value == "":
        return "unset"
    if isinstance(value, bool):
        return "`on`" if value else "`off`"
    if isinstance(value, tuple):
        return f"`{','.join(value)}`"
    shown = f"`{value}`"
    if isinstance(value, int) and value:
        if unit == "bytes":
            shown += _in_words(value, UNITS, plural=False)
        elif unit == "seconds":
            shown += _in_words(value, SPANS, plural=True)
    return shown


def _in_words(value: int, scale, *, plural: bool) -> str:
    for size, name in scale:
        if value >= size and value % size == 0:
            count = value // size
            return f" ({count} {name}{'s' if plural and count != 1 else ''})"
    return ""


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def render_configuration() -> str:
    from drop.config import Config

    defaults = Config.from_env({})
    lines = []
    for group, entries in drop_settings.GROUPS.items():
        lines += [f"## {group}", "", "| variable | default | meaning |", "|---|---|---|"]
        for name, (field, unit, meaning, *words) in entries.items():
            default = words[0] if words else _default(getattr(defaults, field), unit)
            if field == "data_dir":
                default = f"`{defaults.data_dir}` (relative to the working directory)"
            lines.append(f"| `{name}` | {_cell(default)} | {_cell(meaning)} |")
        lines.append("")
    for problem in settings_problems():
        log.warning("configuration reference: %s", problem, type="drop", subtype="settings")
    return "\n".join(lines)


# --- The CLI page ----------------------------------------------------------------------


def render_cli() -> str:
    import typer

    from drop.cli import cli

    root = typer.main.get_command(cli)
    lines: list[str] = []
    _command_section(root, root.context_class(root, info_name="drop-ops"), lines, level=1)
    return "\n".join(lines)


def _command_section(command, ctx, lines: list[str], level: int) -> None:
    # Typer ships its own copy of click: commands are recognised by what they do.
    path = ctx.command_path
    if level > 1:
        lines += [f"{'#' * level} `{path}`", ""]
    usage = " ".join(command.collect_usage_pieces(ctx))
    lines += ["```text", f"{path} {usage}".rstrip(), "```", ""]
    lines += [_help_markdown(command.help or ""), ""]
    records = [param.get_help_record(ctx) for param in command.get_params(ctx)]
    # Every command has --help; listing it each time says nothing.
    records = [record for record in records if record and record[0] != "--help"]
    if records:
        lines += ["| option | meaning |", "|---|---|"]
        for opts, help_text in records:
            lines.append(f"| `{_cell(opts)}` | {_cell(help_text)} |")
        lines.append("")
    if hasattr(command, "list_commands"):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            sub_ctx = sub.context_class(sub, info_name=name, parent=ctx)
            _command_section(sub, sub_ctx, lines, level=level + 1)


def _help_markdown(text: str) -> str:
    """A docstring's paragraphs as Markdown paragraphs (click's \\b markers dropped)."""
    paragraphs = [
        " ".join(line.strip() for line in block.splitlines() if line.strip() != "\b")
        for block in text.strip().split("\n\n")
    ]
    return "\n\n".join(paragraph for paragraph in paragraphs if paragraph)


# --- The API page ----------------------------------------------------------------------

METHODS = ("get", "head", "put", "post", "patch", "delete", "options")


def openapi_document() -> dict:
    """The document a server on the default settings serves at /api/v1.0/openapi.json."""
    from drop.config import Config
    from drop.resources.api_openapi import api_document

    return api_document(Config.from_env({}))


def render_api() -> str:
    document = openapi_document()

    def resolve(item):
        while isinstance(item, dict) and "$ref" in item:
            target = document
            for part in item["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            item = target
        return item

    info = document["info"]
    lines = [
        f"OpenAPI {document['openapi']}, API version {info['version']}: {info.get('summary', '')}",
        "",
        info.get("description", ""),
        "",
    ]
    for path, item in document["paths"].items():
        lines += [f"## `{path}`", ""]
        if item.get("description"):
            lines += [item["description"], ""]
        shared = [resolve(p) for p in item.get("parameters", [])]
        for method in METHODS:
            if method in item:
                lines += _operation(method, path, item[method], shared, resolve)
    schemas = document.get("components", {}).get("schemas", {})
    if schemas:
        lines += ["## Schemas", ""]
        for name, schema in schemas.items():
            lines += [f"### {name}", ""]
            lines += _schema(schema, resolve)
    return "\n".join(lines)


def _operation(method, path, operation, shared, resolve) -> list[str]:
    lines = [f"### {method.upper()} `{path}`", ""]
    if operation.get("summary"):
        lines += [f"**{operation['summary']}**", ""]
    if operation.get("description"):
        lines += [operation["description"], ""]
    if any(requirement for requirement in operation.get("security", [])):
        optional = {} in operation["security"]
        lines += [
            ("Optionally with" if optional else "Needs")
            + " an API token: `Authorization: Bearer <token>`.",
            "",
        ]
    parameters = shared + [resolve(p) for p in operation.get("parameters", [])]
    if parameters:
        lines += ["| parameter | in | required | meaning |", "|---|---|---|---|"]
        for parameter in parameters:
            lines.append(
                f"| `{parameter['name']}` | {parameter['in']} | "
                f"{'yes' if parameter.get('required') else 'no'} | "
                f"{_cell(parameter.get('description', ''))} |"
            )
        lines.append("")
    if "requestBody" in operation:
        body = resolve(operation["requestBody"])
        kinds = ", ".join(f"`{kind}`" for kind in body.get("content", {}))
        lines += [f"Request body ({'required' if body.get('required') else 'optional'}): {kinds}."]
        if body.get("description"):
            lines += ["", body["description"]]
        lines.append("")
        for media in body.get("content", {}).values():
            schema = resolve(media.get("schema", {}))
            if schema.get("properties"):
                lines += _schema(schema, resolve)
                break
    lines += ["| status | meaning | headers |", "|---|---|---|"]
    for status, response in operation.get("responses", {}).items():
        response = resolve(response)
        headers = ", ".join(f"`{name}`" for name in response.get("headers", {}))
        lines.append(f"| {status} | {_cell(response.get('description', ''))} | {headers} |")
    lines.append("")
    return lines


def _schema(schema, resolve) -> list[str]:
    schema = resolve(schema)
    if not schema.get("properties"):
        described = {key: schema[key] for key in ("type", "pattern", "enum") if key in schema}
        return [f"`{json.dumps(described)}`", ""]
    required = set(schema.get("required", []))
    lines = ["| field | type | required | meaning |", "|---|---|---|---|"]
    for name, prop in schema["properties"].items():
        ref = prop.get("$ref", "").rsplit("/", 1)[-1]
        prop = resolve(prop)
        kind = ref or prop.get("type") or ("const" if "const" in prop else "")
        if "enum" in prop:
            kind = " \\| ".join(f"`{value}`" for value in prop["enum"])
        elif "const" in prop:
            kind = f"`{prop['const']}`"
        else:
            kind = f"{kind}" + (f" ({prop['format']})" if "format" in prop else "")
        bounds = [
            f"{key} {prop[key]}" for key in ("minimum", "maximum", "maxLength") if key in prop
        ]
        meaning = prop.get("description", "") + (f" ({', '.join(bounds)})" if bounds else "")
        lines.append(
            f"| `{name}` | {kind} | {'yes' if name in required else 'no'} | {_cell(meaning)} |"
        )
    lines.append("")
    return lines


# --- Benchmark results ----------------------------------------------------------------


def render_bench_results() -> str:
    """Every dated result file of bench/results/, newest first, one section each."""
    files = sorted((REPO / "bench" / "results").glob("[0-9][0-9][0-9][0-9]-*.md"), reverse=True)
    if not files:
        log.warning("no dated result files in bench/results/", type="drop")
    sections = []
    for path in files:
        text = path.read_text("utf-8").strip()
        # Each file's title becomes a section of the page; its own sections go one down.
        text = re.sub(r"^(#+) ", r"#\1 ", text, flags=re.MULTILINE)
        sections.append(f"{text}\n\n*From `bench/results/{path.name}`.*\n")
    return "\n".join(sections)


# --- Sphinx ----------------------------------------------------------------------------

RENDERERS = {
    "configuration": render_configuration,
    "cli": render_cli,
    "api": render_api,
    "bench-results": render_bench_results,
}


def _fill_markers(app, docname: str, source: list[str]) -> None:
    def generated(match: re.Match) -> str:
        name = match.group(1)
        if name not in RENDERERS:
            log.warning("unknown drop-reference %r in %s", name, docname, type="drop")
            return ""
        return RENDERERS[name]()

    source[0] = MARKER.sub(generated, source[0])


def _always_outdated(app, env, added, changed, removed) -> list[str]:
    """Generated pages follow the code, which Sphinx does not watch: read them every build."""
    return [
        docname
        for docname in env.found_docs
        if MARKER.search(Path(env.doc2path(docname)).read_text("utf-8"))
    ]


def setup(app):
    app.connect("source-read", _fill_markers)
    app.connect("env-get-outdated", _always_outdated)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
