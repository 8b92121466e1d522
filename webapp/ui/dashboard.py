"""The dashboard: what is running, what ran lately, and where to go next."""

from __future__ import annotations

from flask import render_template
from flask_login import current_user

from ..engine.status import ACTIVE
from ..services import executions, summaries, templates, workflows
from . import bp


@bp.get("/")
def dashboard():
    user = current_user._get_current_object()
    recent_workflows, workflow_total = workflows.list_workflows(user, limit=5)
    recent_runs, run_total = executions.list_executions(user, limit=8)
    active = sum(executions.list_executions(user, status=status, limit=1)[1] for status in ACTIVE)
    usage = executions.usage_report(user, days=30)
    suggestions, _ = templates.list_templates(limit=3) if workflow_total == 0 else ([], 0)
    return render_template(
        "dashboard/index.html",
        recent_workflows=recent_workflows,
        workflow_total=workflow_total,
        recent_runs=recent_runs,
        run_total=run_total,
        active=active,
        usage=usage,
        suggestions=suggestions,
        last_runs=summaries.last_runs(user, [w.id for w in recent_workflows]),
        names=summaries.workflow_names(user, {run.workflow_id for run in recent_runs}),
    )
