"""``output``: shapes what the execution returns."""

from __future__ import annotations

import json

from ..errors import NodeError
from .base import ConfigReader, NodeOutcome, NodeType, RunContext

FORMATS = ("text", "markdown", "json")


class OutputNode(NodeType):
    type_name = "output"

    def configure(self, reader: ConfigReader) -> None:
        has_fields, has_template = reader.config.get("fields") is not None, reader.config.get("template") is not None
        if has_fields == has_template:
            reader.problem(
                None,
                "missing_field" if not has_fields else "invalid_value",
                "an output needs either 'fields' or 'template', not both",
            )
        self.fields = reader.templates("fields") if has_fields else None
        self.template = reader.template("template") if has_template else None
        self.format = reader.string("format", default="text", choices=FORMATS)

    def run(self, ctx: RunContext) -> NodeOutcome:
        if self.fields is not None:
            return NodeOutcome(output={"value": {name: self.evaluate(t, ctx) for name, t in self.fields.items()}})
        value = self.evaluate(self.template, ctx)
        if self.format == "json" and isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise NodeError("invalid_json", f"the output template did not render valid JSON: {exc}") from None
        return NodeOutcome(output={"value": value})

    def contribution(self, output: dict) -> dict:
        """This node's share of the execution's ``outputs``."""
        if self.fields is not None:
            return dict(output["value"])
        return {self.id: output["value"]}
