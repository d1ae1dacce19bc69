"""requirements.lock, the hashed lock for deployments, stays within pyproject.toml's bounds.

`make lock` regenerates the lock from pyproject.toml's runtime dependencies. These tests fail
when pyproject.toml changed and the lock did not follow (or the lock was edited by hand), so
the two cannot drift apart.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s\\;]+)")
# What uv writes under a package that pyproject.toml itself asks for.
FROM_PYPROJECT = "drop (pyproject.toml)"


@dataclass
class Pin:
    """One package of the lock: its exact version, its hashes, and who asked for it."""

    version: Version
    hashes: list[str] = field(default_factory=list)
    wanted_by: list[str] = field(default_factory=list)


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def runtime_requirements() -> list[Requirement]:
    return [Requirement(line) for line in pyproject()["dependencies"]]


def locked() -> dict[str, Pin]:
    """The lock's pins by canonical name, as `uv pip compile --generate-hashes` writes them."""
    pins: dict[str, Pin] = {}
    current = None
    for line in LOCK.read_text().splitlines():
        match = PIN.match(line)
        if match:
            current = pins[canonicalize_name(match["name"])] = Pin(Version(match["version"]))
        elif current and "--hash=" in line:
            current.hashes.append(line.split("--hash=", 1)[1].rstrip(" \\"))
        elif current and line.lstrip().startswith("#"):
            # "# via typer" on one line, or "# via" then "#   name" lines.
            wanted = line.lstrip("# ").removeprefix("via").strip()
            if wanted:
                current.wanted_by.append(wanted)
    return pins


def test_every_dependency_is_locked_within_its_bounds():
    pins = locked()
    for requirement in runtime_requirements():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is missing from requirements.lock: run make lock"
        assert requirement.specifier.contains(pins[name].version, prereleases=True), (
            f"requirements.lock has {requirement.name}=={pins[name].version}, outside "
            f"pyproject.toml's {requirement}: run make lock"
        )


def test_the_lock_asks_for_the_runtime_dependencies_and_no_extra():
    direct = {name for name, pin in locked().items() if FROM_PYPROJECT in pin.wanted_by}
    assert direct == {canonicalize_name(r.name) for r in runtime_requirements()}, (
        "the lock's direct packages differ from pyproject.toml's dependencies: run make lock"
    )


def test_every_locked_package_carries_a_sha256_hash():
    pins = locked()
    assert pins, "requirements.lock pins nothing: run make lock"
    for name, pin in pins.items():
        assert pin.hashes, f"{name} has no hash in requirements.lock: run make lock"
        assert all(h.startswith("sha256:") for h in pin.hashes), name
