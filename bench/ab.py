"""`make bench-ab BEFORE=<rev> AFTER=<rev>`: two revisions of drop side by side, on SQLite.

What one change does is often smaller than what this machine's noise does between two
`make bench` runs. So both revisions run at once, each from a git worktree of its own
under ops/gunicorn.conf.py on the embedded default, and wrk alternates between them
(BEFORE then AFTER, then AFTER then BEFORE, ...) for `--pairs` pairs. It prints each
pair's figures and the median of the pairs' ratios AFTER / BEFORE: above 1, faster.

    .venv/bin/python -m bench.ab main~3 main --measure upload_1k --pairs 8
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from bench.scenarios import BY_KEY
from bench.servers import ROOT
from bench.targets import Fixtures, Target, start_drop

# The measures counted in requests a second, which one revision's change moves.
MEASURES = ("download_1k", "not_found_uncached", "not_found_cached", "upload_1k")


@contextlib.contextmanager
def worktree(revision: str, path: Path) -> Iterator[Path]:
    """A detached checkout of `revision` at `path`, removed again afterwards."""
    subprocess.run(
        ["git", "worktree", "add", "--detach", "--quiet", str(path), revision],
        cwd=ROOT,
        check=True,
    )
    try:
        yield path
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=ROOT, check=False)


def paired_figures(
    before: tuple[Target, Fixtures],
    after: tuple[Target, Fixtures],
    measure: str,
    pairs: int,
    seconds: float,
) -> list[tuple[float, float]]:
    """(before, after) req/s of each pair, the order swapped every pair."""
    scenario = BY_KEY[measure]
    figures = []
    for number in range(pairs):
        order = (before, after) if number % 2 == 0 else (after, before)
        rate = {}
        for target, fixtures in order:
            measured = scenario.run(target, fixtures, seconds)
            if not measured.trustworthy:
                raise SystemExit(f"{target.name} gave wrong answers: {measured.unexpected}")
            rate[target.name] = measured.requests_per_second
        figures.append((rate[before[0].name], rate[after[0].name]))
        print(
            f"pair {number + 1}: before {figures[-1][0]:,.0f} req/s, after "
            f"{figures[-1][1]:,.0f} req/s, after/before {figures[-1][1] / figures[-1][0]:.2f}",
            flush=True,
        )
    return figures


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", help="a git revision (the baseline)")
    parser.add_argument("after", help="a git revision (the change)")
    parser.add_argument("--measure", choices=MEASURES, default="download_1k")
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="drop-bench-ab-") as scratch:
        scratch = Path(scratch)
        with (
            worktree(args.before, scratch / "before") as before_root,
            worktree(args.after, scratch / "after") as after_root,
        ):
            sides = []
            try:
                for name, root in (("before", before_root), ("after", after_root)):
                    # Fixtures of its own: each side's files name its own drops.
                    fixtures = Fixtures(scratch / f"{name}-fixtures")
                    target = start_drop("sqlite", fixtures, scratch / f"{name}-run", root)
                    target.name = name
                    sides.append((target, fixtures))
                figures = paired_figures(*sides, args.measure, args.pairs, args.seconds)
            finally:
                for target, _ in sides:
                    target.server.stop()
    ratios = [after / before for before, after in figures]
    print(
        f"{args.measure}: before {statistics.median(f[0] for f in figures):,.0f} req/s, "
        f"after {statistics.median(f[1] for f in figures):,.0f} req/s; median after/before "
        f"{statistics.median(ratios):.2f} (pairs: {' '.join(f'{r:.2f}' for r in ratios)})"
    )


if __name__ == "__main__":
    sys.exit(main())
