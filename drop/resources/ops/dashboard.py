"""The dashboard page and the fragments htmx swaps into it: stats cards, charts, drops table."""

from __future__ import annotations

from collections.abc import Callable

import falcon

from drop.db.models import STATUSES
from drop.ops.listing import DropFilter, PageOutOfRange, list_drops
from drop.ops.stats import Stats
from drop.ops.trends import GEOMETRY, Chart
from drop.protection import blocks
from drop.web.templates import Templates


def withheld(page) -> set[str]:
    """The contents among a page of drops that are blocked: their rows say so."""
    return blocks.blocked_contents({drop.sha256 for drop in page.drops})


def drop_filter(req: falcon.Request) -> DropFilter:
    try:
        return DropFilter.from_params(
            req.get_param("status"), req.get_param("name"), req.get_param("page")
        )
    except PageOutOfRange as error:
        raise falcon.HTTPBadRequest(description=str(error)) from None


class OpsDashboard:
    """GET /ops: the whole page, drawn with the same fragments the page refreshes itself with."""

    ops_protected = True

    def __init__(
        self,
        templates: Templates,
        current_stats: Callable[[], Stats],
        current_charts: Callable[[], list[Chart]],
    ):
        self._templates = templates
        self._current_stats = current_stats
        self._current_charts = current_charts

    def on_get(self, req, resp):
        self._templates.respond(
            resp,
            "ops/dashboard.html",
            csrf=req.context.ops_session.csrf,
            stats=self._current_stats(),
            charts=self._current_charts(),
            **GEOMETRY,
            page=(page := list_drops(drop_filter(req))),
            withheld=withheld(page),
            statuses=STATUSES,
        )


class OpsStatsCards:
    """GET /ops/stats: the stats cards and worker health, polled every few seconds."""

    ops_protected = True
    refreshes_session = False  # polling is not the operator being active

    def __init__(self, templates: Templates, current_stats: Callable[[], Stats]):
        self._templates = templates
        self._current_stats = current_stats

    def on_get(self, req, resp):
        self._templates.respond(resp, "ops/_stats.html", stats=self._current_stats())


class OpsCharts:
    """GET /ops/charts: a week of hourly counts as SVG charts, polled every minute."""

    ops_protected = True
    refreshes_session = False  # polling is not the operator being active

    def __init__(self, templates: Templates, current_charts: Callable[[], list[Chart]]):
        self._templates = templates
        self._current_charts = current_charts

    def on_get(self, req, resp):
        self._templates.respond(resp, "ops/_charts.html", charts=self._current_charts(), **GEOMETRY)


class OpsDropTable:
    """GET /ops/drops: one page of the drops table for the current filter."""

    ops_protected = True

    def __init__(self, templates: Templates):
        self._templates = templates

    def on_get(self, req, resp):
        page = list_drops(drop_filter(req))
        self._templates.respond(resp, "ops/_drops.html", page=page, withheld=withheld(page))
