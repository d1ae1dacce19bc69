"""The measures of issue 8, each runnable against any target."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bench.big_uploads import upload_many
from bench.servers import RssSampler
from bench.targets import Fixtures, Target, drop_counts
from bench.wrk import Measure, run_wrk

BIG_UPLOADS = 20
BIG_UPLOADS_PARALLEL = 4


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    unit: str  # "req/s" or "MiB/s"
    target_ratio: float  # issue 8's acceptance: drop / bare at least this
    run: Callable[[Target, Fixtures, float], Measure | None]
    # What drop must have counted (in /metrics) once per right answer: a download
    # that was not claimed, or a 404 that missed the cache it should hit, is wrong.
    counted: str | None = None

    def value(self, measure: Measure) -> float:
        return measure.mib_per_second if self.unit == "MiB/s" else measure.requests_per_second


def download_large(target: Target, fixtures: Fixtures, seconds: float) -> Measure:
    return run_wrk(
        target.url, "paths.lua", [str(target.large_paths)], connections=4, duration=seconds
    )


def download_small(target: Target, fixtures: Fixtures, seconds: float) -> Measure:
    return run_wrk(
        target.url, "paths.lua", [str(target.small_paths)], connections=8, duration=seconds
    )


def not_found_uncached(target: Target, fixtures: Fixtures, seconds: float) -> Measure:
    return run_wrk(
        target.url,
        "unique.lua",
        [target.unique_404_prefix],
        connections=8,
        duration=seconds,
        expect_status=404,
    )


def not_found_cached(target: Target, fixtures: Fixtures, seconds: float) -> Measure:
    return run_wrk(
        target.url,
        "paths.lua",
        [str(target.cached_404_paths)],
        connections=8,
        duration=seconds,
        expect_status=404,
    )


def upload_small(target: Target, fixtures: Fixtures, seconds: float) -> Measure | None:
    if target.upload_path is None:
        return None
    return run_wrk(
        target.url + target.upload_path,
        "upload.lua",
        [str(fixtures.small_body_file), fixtures.content_type],
        connections=8,
        duration=seconds,
    )


def upload_large(target: Target, fixtures: Fixtures, seconds: float) -> Measure | None:
    if target.upload_path is None:
        return None
    return upload_many(
        target.url + target.upload_path,
        fixtures.large_body,
        fixtures.large_content_type,
        count=BIG_UPLOADS,
        parallel=BIG_UPLOADS_PARALLEL,
        expect_status=201,
    )


SCENARIOS = [
    Scenario("download_16m", "16 MiB download, c=4", "MiB/s", 0.95, download_large,
             counted="downloads"),
    Scenario("download_1k", "1 KiB download with claim, c=8", "req/s", 0.35, download_small,
             counted="downloads"),
    Scenario("not_found_uncached", "404 unknown token, uncached, c=8", "req/s", 0.5,
             not_found_uncached, counted="cache_miss"),
    Scenario("not_found_cached", "404 unknown token, cached, c=8", "req/s", 0.8,
             not_found_cached, counted="cache_hit"),
    Scenario("upload_1k", "1 KiB multipart upload, c=8", "req/s", 0.4, upload_small,
             counted="uploads"),
    Scenario("upload_16m", "20 x 16 MiB upload, 4 parallel", "MiB/s", 0.8, upload_large,
             counted="uploads"),
]  # fmt: skip
BY_KEY = {scenario.key: scenario for scenario in SCENARIOS}


def measure(scenario: Scenario, target: Target, fixtures: Fixtures, seconds: float):
    """One scenario on one target, with its web workers' peak memory; None if not applicable.

    On drop, the answers are checked against drop's own counters: every right answer
    must be a download claimed, an upload stored, or a 404 that hit (or missed) the cache.
    """
    before = drop_counts(target)
    with RssSampler(target.gunicorn) as rss:
        result = scenario.run(target, fixtures, seconds)
    if result is None:
        return None
    result.peak_rss_kib = rss.figures()
    after = drop_counts(target)
    name = scenario.counted
    if name and name.startswith("cache_") and not target.has_error_cache:
        name = None  # not drop: no 4XX cache to count
    if name and before and after and name in before and name in after:
        counted = int(after[name] - before[name])
        result.checks[name] = counted
        # A few requests were still in flight when wrk stopped counting answers.
        shortfall = result.expected - counted
        if shortfall > max(10, result.expected // 100):
            result.unexpected[f"right status, not counted in {name}"] = shortfall
    return result
