"""/api/v1/usage: tokens and cost per day and per workflow, for the caller."""

from __future__ import annotations

from flask import g

from ..schemas.executions import UsageQuery, UsageReport
from ..services.executions import usage_report
from . import bp
from .contract import operation


@bp.get("/usage")
@operation(
    "getUsage",
    "Tokens and cost per day and per workflow",
    tag="usage",
    query=UsageQuery,
    answers={200: (UsageReport, "The caller's usage over the last `days` days (UTC).")},
)
def usage(query: UsageQuery):
    return usage_report(g.user, days=query.days, workflow_id=query.workflow_id)
