"""``output``: shapes what the execution returns."""

from __future__ import annotations

import json

from ..errors import NodeError
from ..options import Choice, Option, Variants
from .base import ConfigReader, NodeOutcome, NodeType, RunContext

FIELDS = Option(
    key="fields",
    kind="templates",
    label="Fields",
    required=True,
    when=("fields",),
    help="Name → template; each lands in the execution's outputs.",
)
TEMPLATE = Option(
    key="template",
    kind="template",
    label="Template",
    rows=4,
    required=True,
    when=("template",),
    help="One template; its value lands under the node's id.",
)
FORMAT = Option(
    key="format",
    kind="choice",
    label="Format",
    default="text",
    when=("template",),
    choices=(
        Choice(value="text", label="Text"),
        Choice(value="markdown", label="Markdown"),
        Choice(value="json", label="JSON"),
    ),
)


class OutputNode(NodeType):
    type_name = "output"
    label = "Output"
    summary = "Shapes what the execution returns."
    colour = "#059669"
    variants = Variants(
        key="shape",
        label="Shape",
        stored=False,  # read from which of 'fields' and 'template' is there
        help="Named fields give an object; one template gives a single value.",
        choices=(Choice(value="fields", label="Named fields"), Choice(value="template", label="One template")),
    )
    options = (FIELDS, TEMPLATE, FORMAT)
    outputs = ("value",)
    starter = {"fields": {"result": ""}}
    starter_id = "out"

    @classmethod
    def variant_of(cls, config: dict) -> str:
        return "template" if config.get("template") is not None and config.get("fields") is None else "fields"

    def configure(self, reader: ConfigReader) -> None:
        has_fields, has_template = reader.config.get("fields") is not None, reader.config.get("template") is not None
        if has_fields == has_template:
            reader.problem(
                None,
                "missing_field" if not has_fields else "invalid_value",
                "an output needs either 'fields' or 'template', not both",
            )
        self.variant = self.variant_of(reader.config)
        self.fields = reader.read(FIELDS) if has_fields else None
        self.template = reader.read(TEMPLATE) if has_template else None
        self.format = reader.read(FORMAT)  # tolerated beside 'fields' too, as it always was

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
