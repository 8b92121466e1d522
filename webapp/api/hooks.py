"""``POST /hooks/<token>``: a webhook starts its workflow. No API key: the token is the
secret. The JSON object body is the inputs; the run is the workflow owner's."""

from __future__ import annotations

from flask import Blueprint, current_app, request

from .. import ratelimits
from ..engine.status import Trigger as Started
from ..errors import NotFound
from ..extensions import db
from ..models import User, Workflow
from ..path_secrets import HOOKS_PREFIX
from ..runs import start
from ..schemas.events import ExecutionEvent
from ..schemas.executions import HookAccepted, HookQuery, HookResult, Inputs
from ..services.triggers import token_hash, webhook_for
from . import streams
from .contract import Answer, operation
from .refusals import INPUTS

bp = Blueprint("hooks", __name__, url_prefix=HOOKS_PREFIX)


def _known(token: str) -> None:
    try:
        webhook_for(token)
    except NotFound:  # a guess: counted against the address, as a bad API key is
        ratelimits.count_failed_key(request.remote_addr or "unknown")
        raise
    ratelimits.count_webhook(token_hash(token))


@bp.post("/<token>")
@operation(
    "receiveWebhook",
    "Start a workflow from its webhook",
    tag="triggers",
    public=True,
    errors=(400, 404),
    before=_known,
    query=HookQuery,
    body=Inputs,
    body_required=False,
    example={"text": "hello"},
    refusals=INPUTS,
    description="No API key: the token is the secret. The JSON object body is the inputs. Unknown or "
    "disabled token: 404.",
    answers={
        200: Answer(
            HookResult,
            "The finished execution's outputs; with ?stream=true, its events (text/event-stream).",
            events=ExecutionEvent,
        ),
        202: (HookAccepted, "Still running (or ?async=true)."),
    },
)
def receive(token: str, query: HookQuery, body: dict):
    trigger = webhook_for(token)
    owner = db.session.get(User, db.session.get(Workflow, trigger.workflow_id).owner_id)
    if query.stream:
        with streams.slot() as taken:  # a full server says so before it starts a run
            execution = start.start_execution(
                owner, trigger.workflow_id, body, trigger=Started.WEBHOOK, trigger_id=trigger.id
            )
            return streams.event_stream(execution.id, slot=taken, hook=True)
    execution = start.start_execution(owner, trigger.workflow_id, body, trigger=Started.WEBHOOK, trigger_id=trigger.id)
    if not query.async_:
        execution = start.wait_for(execution, current_app.config["SYNC_TIMEOUT"])
    answer = {"execution_id": execution.id, "status": execution.status}
    if execution.finished:
        return {**answer, "outputs": execution.outputs}, 200
    return answer, 202
