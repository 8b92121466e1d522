"""Usage: tokens and cost per day (a chart) and per workflow (a table)."""

from __future__ import annotations

from flask import request
from flask_login import current_user

from ..services import summaries
from ..services.executions import usage_report
from ..services.limits import budgets, spent_this_month
from . import bp
from .charts import METRICS, usage_chart
from .rendering import respond

PERIODS = (7, 30, 90)


@bp.get("/usage")
def usage():
    user = current_user._get_current_object()
    raw_days = request.args.get("days", "30")
    days = int(raw_days) if raw_days.isdigit() and int(raw_days) in PERIODS else 30
    metric = request.args.get("metric", "tokens")
    metric = metric if metric in METRICS else "tokens"
    workflow_id = request.args.get("workflow", "").strip()[:64] or None
    report = usage_report(user, days=days, workflow_id=workflow_id)
    token_budget, cost_budget = budgets(user)
    tokens_spent, cost_spent = spent_this_month(user.id)
    return respond(
        "usage/index.html",
        "partials/_usage_report.html",
        report=report,
        days=days,
        periods=PERIODS,
        metric=metric,
        metrics=METRICS,
        workflow_id=workflow_id or "",
        chart=usage_chart(report["by_day"], metric),
        choices=summaries.history_choices(user),
        budget={"tokens": token_budget, "cost": cost_budget, "tokens_spent": tokens_spent, "cost_spent": cost_spent},
    )
