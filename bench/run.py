"""`make bench`: drop against a bare WSGI app and nginx, on the same machine, in the same run.

Starts drop under gunicorn with ops/gunicorn.conf.py twice (SQLite, and PostgreSQL +
Redis), the bare app (bench/bare_app.py) under the same conf, and nginx serving the same
files; then, for BENCH_ROUNDS rounds, runs each measure of issue 8 against each of them
with wrk and prints drop's figures, the baseline's and the ratio drop / bare of that
round. Ends with the median ratio of the rounds, writes everything to
bench/results/latest.json, and exits 1 if any run got wrong answers (an error answer is
faster than a real one, so its figure would flatter drop).

    .venv/bin/python -m bench.run                        # what `make bench` runs
    .venv/bin/python -m bench.run --only download_1k,upload_1k --rounds 1
    .venv/bin/python -m bench.run --profile download_1k --backend pg     # bench/profile.sh

Everything listens on 127.0.0.1; every wrk run lasts --seconds.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import profile, report
from bench.scenarios import BY_KEY, SCENARIOS, Scenario, measure
from bench.servers import ROOT, gunicorn_settings, server_env
from bench.targets import Fixtures, Target, check_target, start_bare, start_drop, start_nginx

RESULTS = ROOT / "bench" / "results"
# Measured in this order in every round: the baseline between the two drops.
ORDER = ("drop-sqlite", "bare", "drop-pg", "nginx")
SHOWN_SETTINGS = ("worker_class", "workers", "threads", "keepalive", "timeout")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rounds",
        type=int,
        default=int(os.environ.get("BENCH_ROUNDS", "3")),
        help="rounds of every measure (BENCH_ROUNDS, default 3); the summary is their median",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=float(os.environ.get("BENCH_SECONDS", "5")),
        help="length of each wrk run (BENCH_SECONDS, default 5)",
    )
    parser.add_argument(
        "--only",
        default=os.environ.get("BENCH_ONLY", ""),
        help=f"comma-separated measures (BENCH_ONLY; default all: {', '.join(BY_KEY)})",
    )
    parser.add_argument("--output", type=Path, default=RESULTS / "latest.json")
    parser.add_argument(
        "--profile",
        metavar="MEASURE",
        choices=sorted(BY_KEY),
        help="profile one web worker with py-spy during this measure instead",
    )
    parser.add_argument(
        "--backend",
        choices=("sqlite", "pg", "bare"),
        default="pg",
        help="with --profile: which server (default pg)",
    )
    parser.add_argument(
        "--format",
        choices=sorted(profile.EXTENSIONS),
        default="raw",
        help="with --profile: py-spy's output format (default raw, summarised)",
    )
    parser.add_argument(
        "--cpu-only",
        action="store_true",
        help="with --profile: only samples where the worker ran (default: wall-clock time)",
    )
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.seconds < 1:
        parser.error("--rounds and --seconds must be at least 1")
    return args


def chosen_scenarios(only: str) -> list[Scenario]:
    if not only:
        return SCENARIOS
    keys = [key.strip() for key in only.split(",") if key.strip()]
    unknown = [key for key in keys if key not in BY_KEY]
    if unknown:
        raise SystemExit(f"unknown measure {', '.join(unknown)}; known: {', '.join(BY_KEY)}")
    return [BY_KEY[key] for key in keys]


def say(message: str) -> None:
    print(message, flush=True)


def start_all(fixtures: Fixtures, workdir: Path, names=ORDER) -> dict[str, Target]:
    starters = {
        "drop-sqlite": lambda: start_drop("sqlite", fixtures, workdir / "drop-sqlite"),
        "drop-pg": lambda: start_drop("pg", fixtures, workdir / "drop-pg"),
        "bare": lambda: start_bare(fixtures, workdir / "bare"),
        "nginx": lambda: start_nginx(fixtures, workdir / "nginx"),
    }
    targets = {}
    try:
        for name in names:
            say(f"starting {name}")
            targets[name] = starters[name]()
            check_target(targets[name], fixtures)
    except BaseException:
        stop_all(targets)
        raise
    return targets


def stop_all(targets: dict[str, Target]) -> None:
    for target in targets.values():
        target.stop()


def warm_up(targets: dict[str, Target], fixtures: Fixtures) -> None:
    for target in targets.values():
        BY_KEY["download_1k"].run(target, fixtures, 1)
        BY_KEY["not_found_cached"].run(target, fixtures, 1)


def benchmark(args: argparse.Namespace, workdir: Path) -> int:
    scenarios = chosen_scenarios(args.only)
    settings = gunicorn_settings(server_env(DROP_DATA_DIR=str(workdir / "conf-check")))
    shown = {name: settings.get(name) for name in SHOWN_SETTINGS}
    say(
        "gunicorn from ops/gunicorn.conf.py: "
        + ", ".join(f"{name} {value}" for name, value in shown.items())
        + f"; {os.cpu_count()} CPUs; wrk runs of {args.seconds:g} s; {args.rounds} rounds"
    )
    fixtures = Fixtures(workdir / "fixtures")
    targets = start_all(fixtures, workdir)
    rounds: list[report.Round] = []
    # The machine is shared: its load average beside each round says how quiet it was.
    loads: list[tuple[float, float]] = []
    flagged: list[str] = []
    started = datetime.datetime.now(datetime.UTC)
    try:
        warm_up(targets, fixtures)
        for round_no in range(1, args.rounds + 1):
            load_before = os.getloadavg()[0]
            results: report.Round = {}
            for scenario in scenarios:
                results[scenario.key] = {
                    name: measure(scenario, targets[name], fixtures, args.seconds) for name in ORDER
                }
                flagged += report.problems(scenario, round_no, results[scenario.key])
            rounds.append(results)
            loads.append((load_before, os.getloadavg()[0]))
            title = (
                f"Round {round_no} of {args.rounds} "
                f"(load average {loads[-1][0]:.1f} before, {loads[-1][1]:.1f} after)"
            )
            say("\n" + report.round_table(scenarios, results, title))
            summary = report.summarise(scenarios, rounds)
            write_json(
                args.output, shown, args, started, scenarios, rounds, loads, summary, flagged
            )
    finally:
        stop_all(targets)
    say("\n" + report.summary_table(scenarios, summary, len(rounds)))
    say(f"\nresults: {args.output}")
    if flagged:
        say("\n!! WRONG ANSWERS: these figures are not measures of drop:")
        for line in flagged:
            say(f"!!   {line}")
        return 1
    return 0


def write_json(path, shown, args, started, scenarios, rounds, loads, summary, flagged) -> None:
    document = {
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "cpus": os.cpu_count(),
        "gunicorn": shown,
        "rounds": args.rounds,
        "seconds_per_run": args.seconds,
        "measures": {
            s.key: {"title": s.title, "unit": s.unit, "target_ratio": s.target_ratio}
            for s in scenarios
        },
        "summary": summary,
        "flagged": flagged,
        "load_average_per_round": [list(pair) for pair in loads],
        "per_round": [
            {
                s.key: {name: report.measure_json(s, results[s.key].get(name)) for name in ORDER}
                for s in scenarios
            }
            for results in rounds
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")


def git_commit() -> str | None:
    """The commit measured, `-dirty` when the work tree had changes."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip()

    commit = git("rev-parse", "HEAD")
    if commit and git("status", "--porcelain", "--untracked-files=no"):
        commit += "-dirty"
    return commit or None


def profile_one(args: argparse.Namespace, workdir: Path) -> int:
    scenario = BY_KEY[args.profile]
    name = "bare" if args.backend == "bare" else f"drop-{args.backend}"
    fixtures = Fixtures(workdir / "fixtures")
    targets = start_all(fixtures, workdir, names=(name,))
    target = targets[name]
    kind = "-cpu" if args.cpu_only else ""
    output = (
        RESULTS / f"profile-{scenario.key}-{args.backend}{kind}.{profile.EXTENSIONS[args.format]}"
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        warm_up(targets, fixtures)
        pid = target.gunicorn.worker_pids()[0]
        say(f"profiling worker {pid} of {name} during {scenario.title} ({args.seconds:g} s)")
        result = profile.profile_during(
            lambda: scenario.run(target, fixtures, args.seconds),
            pid,
            args.seconds,
            output,
            args.format,
            args.cpu_only,
        )
    finally:
        stop_all(targets)
    if result is not None:
        mark = "" if result.trustworthy else f"  !! wrong answers: {result.unexpected}"
        say(f"under the profiler: {scenario.value(result):,.0f} {scenario.unit}{mark}")
    say(f"profile: {output}")
    if args.format == "raw":
        summary = profile.summarise_raw(output.read_text())
        summary_file = output.with_suffix(".summary.txt")
        what = "CPU time only" if args.cpu_only else "wall-clock time"
        summary_file.write_text(f"{scenario.title} on {name}, {what}\n\n{summary}")
        say(summary)
        say(f"summary: {summary_file}")
    return 0


def main(argv=None) -> None:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="drop-bench-"))
    started = time.monotonic()
    failed = True
    try:
        code = profile_one(args, workdir) if args.profile else benchmark(args, workdir)
        failed = False
    finally:
        if failed:
            say(f"the servers' logs are kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    say(f"took {time.monotonic() - started:.0f} s")
    sys.exit(code)


if __name__ == "__main__":
    main()
