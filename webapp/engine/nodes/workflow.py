"""``workflow``: runs another workflow as a child execution, and outputs its outputs."""

from __future__ import annotations

from ..errors import NodeError
from ..options import Option
from ..status import RunStatus
from .base import NodeOutcome, NodeType, RunContext


class WorkflowNode(NodeType):
    type_name = "workflow"
    label = "Workflow"
    summary = "Runs another workflow (one you may read) as a child execution, and outputs its outputs."
    colour = "#4338ca"
    blocking = True
    options = (
        Option(
            key="workflow_id",
            kind="text",
            label="Workflow",
            required=True,
            placeholder="wf_…",
            help="The id of a workflow of yours, or a public one.",
            suggest="workflows",
        ),
        Option(
            key="inputs",
            kind="templates",
            label="Inputs",
            allow_empty=True,
            help="Input name → template, as the workflow's input node declares them.",
        ),
    )
    outputs = ("outputs", "execution_id")
    starter = {"workflow_id": "", "inputs": {}}
    starter_id = "sub"

    @classmethod
    def lists_for(cls, config: dict) -> tuple[str, ...]:
        return ()  # 'outputs' is an object: a list inside it is a path further in

    def prepare(self, ctx: RunContext) -> dict:
        return {name: self.evaluate(template, ctx) for name, template in (self.inputs or {}).items()}

    def perform(self, inputs: dict, ctx: RunContext) -> NodeOutcome:
        if ctx.workflows is None:
            raise NodeError("not_found", "workflows cannot be run from here")
        child = ctx.workflows.run(self.workflow_id, inputs, deadline=ctx.deadline, stopped=ctx.stopped)
        spent = NodeOutcome(output=None, input=inputs, usage=child.usage, cost_usd=child.cost_usd)
        if child.status != RunStatus.COMPLETED:
            error = child.error or {}
            why = f": {error['message']}" if error.get("message") else ""
            message = f"the child execution {child.execution_id} {child.status}{why}"
            raise NodeError(error.get("code") or "node_failed", message, spent=spent)
        spent.output = {"outputs": child.outputs or {}, "execution_id": child.execution_id}
        return spent
