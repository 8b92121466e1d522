"""``POST /hooks/<token>``: a webhook starts its workflow. No API key: the token is the
secret. The JSON object body is the inputs; the run is the workflow owner's."""

from __future__ import annotations

from flask import Blueprint, current_app, request

from .. import ratelimits
from ..engine.status import Trigger as Started
from ..errors import NotFound
from ..extensions import db
from ..models import User, Workflow
from ..services import executions
from ..services.triggers import token_hash, webhook_for
from .params import bool_arg, json_body

bp = Blueprint("hooks", __name__, url_prefix="/hooks")


@bp.post("/<token>")
def receive(token: str):
    try:
        trigger = webhook_for(token)
    except NotFound:  # a guess: counted against the address, as a bad API key is
        ratelimits.count_failed_key(request.remote_addr or "unknown")
        raise
    ratelimits.count_webhook(token_hash(token))
    inputs = json_body(optional=True)
    owner = db.session.get(User, db.session.get(Workflow, trigger.workflow_id).owner_id)
    execution = executions.start_execution(
        owner, trigger.workflow_id, inputs, trigger=Started.WEBHOOK, trigger_id=trigger.id
    )
    if not bool_arg("async"):
        execution = executions.wait_for(execution, current_app.config["SYNC_TIMEOUT"])
    body = {"execution_id": execution.id, "status": execution.status}
    if execution.finished:
        return {**body, "outputs": execution.outputs}, 200
    return body, 202
