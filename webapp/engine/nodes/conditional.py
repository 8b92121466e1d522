"""``conditional``: evaluates a condition; only the matching branch is taken."""

from __future__ import annotations

from .base import ConfigReader, NodeOutcome, NodeType, RunContext


class ConditionalNode(NodeType):
    type_name = "conditional"

    def configure(self, reader: ConfigReader) -> None:
        self.condition = reader.condition("condition")

    def run(self, ctx: RunContext) -> NodeOutcome:
        result = bool(self.evaluate(self.condition, ctx))
        return NodeOutcome(output={"result": result}, input=self.condition.source)

    def branch_of(self, output: dict) -> str:
        return "true" if output["result"] else "false"
