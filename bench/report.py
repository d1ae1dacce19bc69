"""The benchmark's tables and its JSON: figures per round, then medians of the ratios."""

from __future__ import annotations

import statistics
from dataclasses import asdict

from bench.scenarios import Scenario
from bench.wrk import ERROR_SHARE_ALLOWED, Measure

BACKENDS = {"sqlite": "sqlite", "pg": "pg+redis"}
# One round: scenario key -> target name ("drop-sqlite", "drop-pg", "bare", "nginx") -> result
Round = dict[str, dict[str, Measure | None]]


def ratio(scenario: Scenario, results: dict[str, Measure | None], backend: str) -> float | None:
    drop, bare = results.get(f"drop-{backend}"), results.get("bare")
    if drop is None or bare is None or not scenario.value(bare):
        return None
    return scenario.value(drop) / scenario.value(bare)


def problems(scenario: Scenario, round_no: int, results: dict[str, Measure | None]) -> list[str]:
    """Loud lines for every run whose answers were not what the scenario asks for."""
    found = []
    for name, measure in results.items():
        if measure is None or measure.trustworthy:
            continue
        wrong = ", ".join(f"{kind}: {count}" for kind, count in measure.unexpected.items())
        found.append(
            f"round {round_no}, {scenario.title}, {name}: {measure.error_share:.0%} wrong "
            f"or failed ({wrong or 'no answers'}) out of {measure.requests} answers; "
            "its figure is not a measure"
        )
    return found


def figure(scenario: Scenario, measure: Measure | None) -> str:
    if measure is None:
        return "-"
    mark = "" if measure.trustworthy else " !!"
    return f"{scenario.value(measure):,.0f} {scenario.unit}{mark}"


def round_table(scenarios: list[Scenario], results: Round, title: str) -> str:
    lines = [
        title,
        f"{'measure':34} {'backend':9} {'drop':>15} {'bare':>15} {'nginx':>15} {'drop/bare':>9}",
    ]
    for scenario in scenarios:
        row = results[scenario.key]
        for index, backend in enumerate(BACKENDS):
            value = ratio(scenario, row, backend)
            lines.append(
                f"{scenario.title if index == 0 else '':34} {BACKENDS[backend]:9} "
                f"{figure(scenario, row.get(f'drop-{backend}')):>15} "
                f"{figure(scenario, row.get('bare')):>15} {figure(scenario, row.get('nginx')):>15} "
                f"{'-' if value is None else f'{value:.2f}':>9}"
            )
    return "\n".join(lines)


def peak_rss(rounds: list[Round], name: str, kind: str) -> list[int]:
    """Per round, the most memory `name`'s web workers held in any scenario (KiB)."""
    peaks = []
    for results in rounds:
        figures = [row[name].peak_rss_kib.get(kind, 0) for row in results.values() if row.get(name)]
        if figures:
            peaks.append(max(figures))
    return peaks


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def summarise(scenarios: list[Scenario], rounds: list[Round]) -> dict:
    summary: dict = {"measures": {}, "peak_rss_mib": {}}
    for scenario in scenarios:
        per_backend = {}
        for backend in BACKENDS:
            ratios = [ratio(scenario, results[scenario.key], backend) for results in rounds]
            ratios = [value for value in ratios if value is not None]
            values = {
                name: median(
                    [
                        scenario.value(results[scenario.key][name])
                        for results in rounds
                        if results[scenario.key].get(name)
                    ]
                )
                for name in (f"drop-{backend}", "bare", "nginx")
            }
            middle = median(ratios)
            values = {name: None if v is None else round(v, 1) for name, v in values.items()}
            per_backend[backend] = {
                "unit": scenario.unit,
                "drop": values[f"drop-{backend}"],
                "bare": values["bare"],
                "nginx": values["nginx"],
                "ratios": [round(value, 3) for value in ratios],
                "ratio_median": None if middle is None else round(middle, 3),
                "target": scenario.target_ratio,
                "meets_target": middle is not None and middle >= scenario.target_ratio,
            }
        summary["measures"][scenario.key] = per_backend
    for name in ("drop-sqlite", "drop-pg", "bare"):
        summary["peak_rss_mib"][name] = {
            kind: round(median(peak_rss(rounds, name, kind)) / 1024, 1)
            for kind in ("one_worker", "all_workers")
            if peak_rss(rounds, name, kind)
        }
    return summary


def summary_table(scenarios: list[Scenario], summary: dict, rounds: int) -> str:
    lines = [
        f"Medians of {rounds} rounds (each ratio is drop / bare measured in the same round)",
        f"{'measure':34} {'backend':9} {'drop':>15} {'bare':>15} {'nginx':>15} "
        f"{'drop/bare':>9}  {'per round':18} target",
    ]

    def show(value, unit):
        return "-" if value is None else f"{value:,.0f} {unit}"

    for scenario in scenarios:
        for index, backend in enumerate(BACKENDS):
            entry = summary["measures"][scenario.key][backend]
            middle = entry["ratio_median"]
            verdict = "met" if entry["meets_target"] else "NOT MET"
            lines.append(
                f"{scenario.title if index == 0 else '':34} {BACKENDS[backend]:9} "
                f"{show(entry['drop'], scenario.unit):>15} "
                f"{show(entry['bare'], scenario.unit):>15} "
                f"{show(entry['nginx'], scenario.unit):>15} "
                f"{'-' if middle is None else f'{middle:.2f}':>9}  "
                f"{' '.join(f'{value:.2f}' for value in entry['ratios']):18} "
                f">= {entry['target']:.2f} {verdict}"
            )
    rss = summary["peak_rss_mib"]
    bare = rss.get("bare", {})
    for kind, title in (("one_worker", "one worker"), ("all_workers", "all workers together")):
        for index, backend in enumerate(BACKENDS):
            drop = rss.get(f"drop-{backend}", {}).get(kind)
            share = f"{drop / bare[kind]:.2f}" if drop and bare.get(kind) else "-"
            lines.append(
                f"{'peak RSS, ' + title if index == 0 else '':34} {BACKENDS[backend]:9} "
                f"{show(drop, 'MiB'):>15} {show(bare.get(kind), 'MiB'):>15} {'':>15} {share:>9}"
            )
    return "\n".join(lines)


def measure_json(scenario: Scenario, measure: Measure | None) -> dict | None:
    if measure is None:
        return None
    return dict(
        asdict(measure),
        value=round(scenario.value(measure), 2),
        unit=scenario.unit,
        error_share=round(measure.error_share, 4),
        trustworthy=measure.trustworthy,
        error_share_allowed=ERROR_SHARE_ALLOWED,
    )
