"""``conditional``: evaluates a condition; only the matching branch is taken."""

from __future__ import annotations

from ..options import Option
from .base import NodeOutcome, NodeType, RunContext


class ConditionalNode(NodeType):
    type_name = "conditional"
    label = "Condition"
    summary = "Takes its “true” or its “false” connections, by a condition."
    colour = "#db2777"
    options = (
        Option(
            key="condition",
            kind="expression",
            label="Condition",
            required=True,
            placeholder="draft.text | length > 200",
            help="A Jinja2 expression. When true, connections marked “true” are taken; otherwise those marked “false”.",
        ),
    )
    outputs = ("result",)
    starter = {"condition": ""}
    starter_id = "check"
    branches = ("true", "false")

    @classmethod
    def lists_for(cls, config: dict) -> tuple[str, ...]:
        return ()

    def run(self, ctx: RunContext) -> NodeOutcome:
        result = bool(self.evaluate(self.condition, ctx))
        return NodeOutcome(output={"result": result}, input=self.condition.source)

    @classmethod
    def pinned_problem(cls, output: dict) -> str | None:
        if isinstance(output.get("result"), bool):
            return None
        return 'a condition\'s pinned output is {"result": true} or {"result": false}'

    def branch_of(self, output: dict) -> str:
        return "true" if output["result"] else "false"
