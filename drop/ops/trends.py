"""The dashboard's charts: a week of hourly counts (table `hourly_stat`) drawn as SVG.

The data is one range read of `hourly_stat`'s primary key, at most 168 hours × 6 metrics;
nothing here counts drops or events. The geometry is computed here so the template only
places numbers: no script draws anything, and the Content-Security-Policy stays 'self'.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass
from functools import cached_property

from markupsafe import Markup, escape

from drop.clock import naive_utc_epoch
from drop.ops import hourly_counts as counts
from drop.ops.hourly_counts import hour_of, read_hours
from drop.wording import human_bytes

HOURS = 7 * 24
HOUR = datetime.timedelta(hours=1)
# The viewBox; the chart is drawn at about this size in CSS pixels (three to a row on a
# desktop, one on a phone), so its text stays readable at both.
WIDTH, HEIGHT = 360, 170
LEFT, RIGHT, TOP, BOTTOM = 46, 10, 10, 24
PLOT_WIDTH, PLOT_HEIGHT = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
DAY_LABEL_WIDTH = 38  # "Wed 25" at 11px

# (id, title, unit, ((metric, label), (metric, label)))
CHARTS = (
    (
        "transfers",
        "Uploads and downloads",
        "count",
        ((counts.UPLOADS, "uploads"), (counts.DOWNLOADS, "downloads")),
    ),
    (
        "bytes",
        "Bytes in and out",
        "bytes",
        ((counts.BYTES_IN, "bytes in"), (counts.BYTES_OUT, "bytes out")),
    ),
    (
        "refused",
        "Refused requests",
        "count",
        ((counts.ANSWERS_4XX, "4xx answers"), (counts.BLOCKED, "blocked")),
    ),
)


def hour_label(hour: datetime.datetime) -> str:
    return f"{hour:%a %d %H}:00 UTC"


@dataclass(frozen=True)
class Series:
    metric: str
    label: str
    values: tuple[int, ...]  # one per hour, oldest first
    unit: str

    @cached_property
    def total(self) -> int:
        return sum(self.values)

    @cached_property
    def peak(self) -> int:
        return max(self.values, default=0)

    def amount(self, value: int) -> str:
        return human_bytes(value) if self.unit == "bytes" else f"{value:,}"


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class Chart:
    """One chart: two series over the same hours, and where everything goes in the viewBox."""

    id: str
    title: str
    unit: str
    hours: tuple[datetime.datetime, ...]
    series: tuple[Series, ...]
    hour_labels: tuple[str, ...]  # hour_label() of each hour, made once for every chart

    @cached_property
    def scale_max(self) -> int:
        return nice_ceiling(max((s.peak for s in self.series), default=0), self.unit)

    @cached_property
    def step(self) -> float:
        """The width of one hour in the viewBox."""
        return PLOT_WIDTH / max(len(self.hours) - 1, 1)

    def x(self, index: int) -> float:
        return LEFT + index * self.step

    def y(self, value: int) -> float:
        return TOP + PLOT_HEIGHT - value * PLOT_HEIGHT / self.scale_max

    def points(self, series: Series) -> str:
        """The series as an SVG polyline's points."""
        return self._points[series.metric]

    @cached_property
    def _points(self) -> dict[str, str]:
        return {
            s.metric: " ".join(f"{self.x(i):.1f},{self.y(v):.1f}" for i, v in enumerate(s.values))
            for s in self.series
        }

    def area(self, series: Series) -> str:
        """The series closed down to the baseline, as a polygon's points."""
        base = TOP + PLOT_HEIGHT
        right = self.x(len(self.hours) - 1)
        return f"{LEFT:.1f},{base:.1f} {self.points(series)} {right:.1f},{base:.1f}"

    def grid(self) -> list[tuple[float, str]]:
        """Horizontal lines: (y, label) at 0, half and the top of the scale."""
        top = self.scale_max
        return [(self.y(value), self.axis_label(value)) for value in sorted({0, top // 2, top})]

    def axis_label(self, value: int) -> str:
        """A round figure without decimals it does not need: 200 MiB, 2.5 KiB, 1,000."""
        if self.unit != "bytes" or value < 1024:
            return f"{value:,}" if self.unit != "bytes" else f"{value} B"
        for unit in ("KiB", "MiB", "GiB", "TiB"):
            value /= 1024
            if value < 1024 or unit == "TiB":
                return f"{value:g} {unit}"
        raise AssertionError("unreachable")

    def days(self) -> list[Tick]:
        """A tick at each midnight (UTC) inside the week; no label where it would not fit."""
        return [
            Tick(self.x(i), f"{hour:%a %d}" if self.x(i) < WIDTH - DAY_LABEL_WIDTH else "")
            for i, hour in enumerate(self.hours)
            if hour.hour == 0
        ]

    def slots(self) -> Markup:
        """A strip for each hour, whose tooltip says its counts (hovering shows it).

        Built here as one string: 168 small elements are many times faster to join than
        to render through the template's loop and filters.
        """
        width = self.step
        first, second = self.series
        strips = []
        for i, label in enumerate(self.hour_labels):
            tip = (
                f"{label}: {first.label} {first.amount(first.values[i])}, "
                f"{second.label} {second.amount(second.values[i])}"
            )
            strips.append(
                f'<rect x="{LEFT + (i - 0.5) * width:.1f}" y="{TOP}" width="{width:.2f}" '
                f'height="{PLOT_HEIGHT}"><title>{escape(tip)}</title></rect>'
            )
        return Markup("".join(strips))

    def amount(self, value: int) -> str:
        return human_bytes(value) if self.unit == "bytes" else f"{value:,}"

    def description(self) -> str:
        """The chart in words, for screen readers (and anyone reading the source)."""
        parts = []
        for s in self.series:
            text = f"{s.label}: {s.amount(s.total)} in total"
            if s.peak:
                peak_hour = self.hours[s.values.index(s.peak)]
                text += f", at most {s.amount(s.peak)} in one hour ({hour_label(peak_hour)})"
            parts.append(text)
        first, last = self.hours[0], self.hours[-1]
        return f"Per hour from {hour_label(first)} to {hour_label(last)}. " + "; ".join(parts) + "."


def nice_ceiling(value: int, unit: str) -> int:
    """The smallest 1, 2 or 5 times a power of ten (of 1024 for bytes) that is ≥ value."""
    if value <= 0:
        return 1024 if unit == "bytes" else 1
    base = 1
    if unit == "bytes":
        while value / base >= 1024:
            base *= 1024
    scaled = value / base
    power = 10 ** math.floor(math.log10(scaled))
    for step in (1, 2, 5, 10):
        if scaled <= step * power:
            return int(step * power * base)
    raise AssertionError("unreachable")


def week_charts(now: datetime.datetime) -> list[Chart]:
    """The charts of the 168 hours up to and including `now`'s (naive UTC) hour."""
    last = hour_of(naive_utc_epoch(now))
    first = last - (HOURS - 1) * HOUR
    hours = tuple(first + i * HOUR for i in range(HOURS))
    index = {hour: i for i, hour in enumerate(hours)}
    labels = tuple(hour_label(hour) for hour in hours)
    values = {metric: [0] * HOURS for metric in counts.METRICS}
    for hour, metric, value in read_hours(first, last):
        if metric in values and hour in index:
            values[metric][index[hour]] = value
    return [
        Chart(
            chart_id,
            title,
            unit,
            hours,
            tuple(Series(metric, label, tuple(values[metric]), unit) for metric, label in pairs),
            labels,
        )
        for chart_id, title, unit, pairs in CHARTS
    ]


# What the template needs besides the charts: the viewBox and the plot's edges.
GEOMETRY = {
    "width": WIDTH,
    "height": HEIGHT,
    "left": LEFT,
    "right": RIGHT,
    "top": TOP,
    "bottom": BOTTOM,
    "plot_height": PLOT_HEIGHT,
}
