"""Maps the top-level templates/, migrations/ and ops/ into the package as drop.bundled.*.

Everything else about the build is in pyproject.toml. The package list lives here because
pyproject.toml cannot combine automatic discovery (drop and its sub-packages) with
directories mapped from elsewhere; the wheel takes no tests.
"""

from setuptools import find_namespace_packages, setup

BUNDLED = ("templates", "migrations", "ops")

setup(
    # Namespace discovery takes the asset folders (drop/assets/…) as packages of data.
    packages=find_namespace_packages(include=["drop", "drop.*"], exclude=["*.__pycache__"])
    + [f"drop.bundled.{name}" for name in BUNDLED]
    + ["drop.bundled.templates.ops", "drop.bundled.ops.systemd"],
    package_dir={f"drop.bundled.{name}": name for name in BUNDLED}
    | {"drop.bundled.templates.ops": "templates/ops", "drop.bundled.ops.systemd": "ops/systemd"},
    package_data={
        "drop": ["openapi.json"],
        "drop.assets": ["*"],
        "drop.assets.vendor": ["*"],
        "drop.assets.vendor.tus": ["*"],
        "drop.bundled.templates": ["*.html"],
        "drop.bundled.templates.ops": ["*.html"],
        "drop.bundled.ops": ["*"],
        "drop.bundled.ops.systemd": ["*"],
    },
)
