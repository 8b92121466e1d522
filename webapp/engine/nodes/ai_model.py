"""``ai_model``: one chat completion, with the prompt rendered from upstream outputs."""

from __future__ import annotations

import json

from ..errors import NodeError
from ..model_calls import ModelRequest
from .base import ConfigReader, NodeOutcome, NodeType, RunContext, as_text

JSON_INSTRUCTION = "Answer with a single JSON object and nothing else."


class AiModelNode(NodeType):
    type_name = "ai_model"
    blocking = True

    def configure(self, reader: ConfigReader) -> None:
        self.model = reader.string("model")
        self.prompt = reader.template("prompt", required=True)
        self.system = reader.template("system")
        self.temperature = reader.number("temperature", minimum=0, maximum=2)
        self.max_tokens = reader.integer("max_tokens", minimum=1, maximum=1_000_000)
        self.json_mode = reader.string("response_format", default="text", choices=("text", "json")) == "json"
        self.cache = reader.boolean("cache", default=True)
        self.timeout = reader.number("timeout", minimum=0.1, maximum=3600)
        self.retries = reader.integer("retries", minimum=0, maximum=10)

    def prepare(self, ctx: RunContext) -> ModelRequest:
        """The request, rendered from upstream values (in a sandbox process when the
        prompt computes); ``perform`` sends it."""
        system = as_text(self.evaluate(self.system, ctx)) if self.system else ""
        if self.json_mode:  # SPEC: the product's own instructions go into the system message
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
        )

    def perform(self, request: ModelRequest, ctx: RunContext) -> NodeOutcome:
        if ctx.models is None:
            raise NodeError("model_error", "no model gateway is configured")
        seen = {role: content for role, content in request.messages}
        reply = ctx.models.complete(request, deadline=ctx.deadline, stopped=ctx.stopped)
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
    except ValueError as exc:
        preview = text.strip()[:120]
        raise NodeError("invalid_json", f"the model did not answer with valid JSON ({exc}): {preview!r}") from None
