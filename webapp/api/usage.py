"""/api/v1/usage: tokens and cost per day and per workflow, for the caller."""

from __future__ import annotations

from flask import g, request

from ..services.executions import usage_report
from . import bp
from .params import int_arg


@bp.get("/usage")
def usage():
    return usage_report(
        g.user, days=int_arg("days", 30, minimum=1, maximum=366), workflow_id=request.args.get("workflow_id") or None
    )
