"""``ai_model``: one chat completion, with the prompt rendered from upstream outputs."""

from __future__ import annotations

import json
from typing import Any

from ..attempts import retries_option
from ..errors import NodeError
from ..model_calls import ModelRequest
from ..options import Choice, Option
from . import model_options
from .base import NodeOutcome, NodeType, RunContext, as_text

JSON_INSTRUCTION = "Answer with a single JSON object and nothing else."


class AiModelNode(NodeType):
    type_name = "ai_model"
    label = "AI model"
    summary = "One chat completion: a prompt rendered from upstream values, sent to a model."
    colour = "#7c3aed"
    blocking = True
    options = (
        model_options.model("Any model your server offers."),
        model_options.PROVIDER,
        Option(
            key="response_format",
            kind="choice",
            label="Response format",
            default="text",
            choices=(Choice(value="text", label="Text"), Choice(value="json", label="JSON object (adds .json)")),
        ),
        model_options.TEMPERATURE,
        model_options.max_tokens(),
        Option(
            key="system",
            kind="template",
            label="System message",
            rows=2,
            help="Optional. Sets the model's role and tone.",
        ),
        Option(
            key="prompt",
            kind="template",
            label="Prompt",
            rows=5,
            required=True,
            help="Sent as the user message. Insert values from upstream nodes with {{ node.field }}.",
        ),
        Option(
            key="cache", kind="boolean", label="Reuse cached answers for identical calls", default=True, advanced=True
        ),
        model_options.timeout("Timeout (seconds)"),
        retries_option(placeholder="server default"),
    )
    outputs = ("text", "model", "usage.total_tokens", "cost_usd")
    starter = {"prompt": ""}
    starter_id = "model"
    fed_by = "prompt"

    @classmethod
    def outputs_for(cls, config: dict) -> tuple[str, ...]:
        return ("text", "json", *cls.outputs[1:]) if config.get("response_format") == "json" else cls.outputs

    @classmethod
    def lists_for(cls, config: dict) -> tuple[str, ...]:
        return ("json",) if config.get("response_format") == "json" else ()

    @classmethod
    def main_value(cls, output: dict) -> Any:
        return output["json"] if "json" in output else output.get("text")

    @property
    def json_mode(self) -> bool:
        return self.response_format == "json"

    def prepare(self, ctx: RunContext) -> ModelRequest:
        """The request, rendered from upstream values (in a sandbox process when the
        prompt computes); ``perform`` sends it."""
        system = as_text(self.evaluate(self.system, ctx)) if self.system else ""
        if self.json_mode:  # docs/api.md: the product's own instructions go into the system message
            system = f"{system}\n\n{JSON_INSTRUCTION}".strip()
        messages = ((("system", system),) if system else ()) + (("user", as_text(self.evaluate(self.prompt, ctx))),)
        return ModelRequest(
            model=self.model,
            messages=messages,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            json_mode=self.json_mode,
            cache=self.cache,
            timeout=self.timeout,
            retries=self.retries,
            provider=self.provider,
        )

    def shown(self, request: ModelRequest) -> dict:
        return {role: content for role, content in request.messages}

    def perform(self, request: ModelRequest, ctx: RunContext) -> NodeOutcome:
        if ctx.models is None:
            raise NodeError("model_error", "no model gateway is configured")
        seen = self.shown(request)
        reply = ctx.models.complete(request, deadline=ctx.deadline, stopped=ctx.stopped, text=ctx.text)
        output = {
            "text": reply.text,
            "model": reply.model,
            "usage": reply.usage.as_dict() if reply.usage else None,
            "cost_usd": reply.cost_usd,
            "price_known": reply.price_known,  # false: no price for this model, so its cost counts as 0
        }
        if self.json_mode:
            output["json"] = parse_model_json(reply.text)
        return NodeOutcome(
            output=output,
            input=seen,
            usage=reply.usage,
            cost_usd=reply.cost_usd,
            cost_saved_usd=reply.cost_saved_usd,
            cached=reply.cached,
            attempts=reply.attempts,
        )


def _refuse_non_finite(name: str):
    raise ValueError(f"{name} is not a JSON number")


def parse_model_json(text: str):
    """Models often wrap JSON in a Markdown fence; accept that, refuse anything else."""
    body = text.strip()
    if body.startswith("```"):
        body = body.split("\n", 1)[1] if "\n" in body else ""
        body = body.rsplit("```", 1)[0]
    try:
        return json.loads(body, parse_constant=_refuse_non_finite)
    except (ValueError, RecursionError) as exc:  # nested past the parser's depth: "[[[[…" from a model
        preview = text.strip()[:120]
        raise NodeError("invalid_json", f"the model did not answer with valid JSON ({exc}): {preview!r}") from None
