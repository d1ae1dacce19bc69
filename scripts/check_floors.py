"""Check that this environment holds every direct dependency at its floor in pyproject.toml.

scripts/test-lowest.sh runs it in .venv-lowest before the tests: if uv had to pick a higher
version (a floor no longer installs, or another package needs more), the floor is not what
the tests ran on, and this says which one to raise.
"""

from __future__ import annotations

import sys
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
# The extras whose floors the lowest-versions step installs (not [bench] or [docs]).
EXTRAS = ("test",)


def direct_requirements() -> list[Requirement]:
    """The runtime dependencies and those of EXTRAS, as pyproject.toml states them."""
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    lines = list(project["dependencies"])
    for extra in EXTRAS:
        lines += project["optional-dependencies"][extra]
    # "drop[docs]" in [test] names another extra of drop itself, not a dependency with a floor.
    return [r for r in map(Requirement, lines) if r.name != project["name"]]


def floor(requirement: Requirement) -> Version | None:
    """The version in the requirement's `>=` clause, or None when it has none."""
    floors = [Version(s.version) for s in requirement.specifier if s.operator == ">="]
    return max(floors) if floors else None


def problems() -> list[str]:
    """One line per direct dependency that is not installed at its stated floor."""
    found = []
    for requirement in direct_requirements():
        lowest = floor(requirement)
        if lowest is None:
            found.append(f"{requirement}: give it a floor (>=) in pyproject.toml")
            continue
        try:
            installed = Version(version(requirement.name))
        except PackageNotFoundError:
            found.append(f"{requirement}: not installed")
            continue
        if installed != lowest:
            found.append(
                f"{requirement}: {installed} is installed, not the floor {lowest}; "
                "raise the floor in pyproject.toml to the lowest version that installs"
            )
        else:
            print(f"  {requirement.name}=={installed}")
    return found


def main() -> int:
    print("direct dependencies at their floors:")
    found = problems()
    for line in found:
        print(f"error: {line}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
