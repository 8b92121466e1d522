"""``agent``: a model that calls tools (other workflows, HTTP endpoints) in a bounded loop.

The model is called with the tools declared (OpenAI tool calling). Each tool call it asks
for runs, its result goes back to it, and it is called again, until it answers without a
tool call. A workflow tool is a real child execution (``WorkflowGateway``); an HTTP tool
is an ``http_request`` node run as the runner runs a node (``run_step``: its templates,
which also see ``args``, where they are bounded; its request under the outbound rules).
Several calls in one answer run at once, at most ``NODE_CONCURRENCY``.

Bounds: arguments are checked against the tool's parameters (a mismatch goes back to the
model as that step's error); a model asking for more than ``max_steps`` calls in all
fails the node with ``resource_limit``; every model call, child run and request goes
through the run's gateways (budget, size bounds, outbound rules, deadline, stop), and a
stop ends the loop between steps and, through them, inside one.
"""

from __future__ import annotations

import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import ErrorCode, NodeError
from ..model_calls import ZERO_USAGE, ModelReply, ModelRequest, ToolCall
from ..options import Option
from ..status import RunStatus
from ..tools import MAX_TOOLS, TOOL_NAME, check_arguments, fields_of, schema_of
from . import model_options
from .base import ConfigReader, NodeOutcome, NodeType, RunContext, as_text
from .input import InputField
from .map import InnerStep

ARG_NAMES = frozenset({"args"})  # what an HTTP tool's templates see besides upstream values
MAX_STEPS = 20
_TOOL_KEYS = ("name", "description", "workflow_id", "parameters", "http")
_TOOL_NAME = re.compile(TOOL_NAME)
# A tool's failure the model can do something about goes back to it as that step's error;
# anything else (the run's bounds, a stop, a refused address) fails the node.
SOFT_CODES = frozenset(
    {"invalid_input", "invalid_arguments", "unknown_tool", "tool_failed", ErrorCode.HTTP_ERROR, "expression_error"}
)
HARD_CODES = frozenset(
    {
        ErrorCode.BLOCKED_DESTINATION,
        ErrorCode.RESOURCE_LIMIT,
        ErrorCode.TIMEOUT,
        ErrorCode.CANCELLED,
        ErrorCode.BUDGET_EXCEEDED,
        ErrorCode.RECURSION,
        ErrorCode.WORKER_LOST,
        "not_found",
    }
)


@dataclass(frozen=True)
class Tool:
    """One tool as the definition declares it."""

    name: str
    description: str
    workflow_id: str | None = None
    fields: tuple[InputField, ...] = ()  # an HTTP tool's declared parameters
    http: InnerStep | None = None

    def summary(self) -> dict:
        """The tool as the node's ``input`` shows it."""
        shown: dict[str, Any] = {"name": self.name, "description": self.description}
        if self.workflow_id is not None:
            shown["workflow_id"] = self.workflow_id
        else:
            shown["http"] = {"method": self.http.impl.method, "url": self.http.impl.url.source}
        return shown


@dataclass(frozen=True)
class AgentPlan:
    """What ``prepare`` rendered: the first messages."""

    system: str
    prompt: str


class AgentNode(NodeType):
    type_name = "agent"
    label = "Agent"
    summary = "A model that calls tools (your workflows, HTTP endpoints) until it can answer, in a bounded loop."
    colour = "#a21caf"
    blocking = True
    options = (
        model_options.model("A model that supports tool calling."),
        model_options.PROVIDER,
        Option(
            key="system",
            kind="template",
            label="System message",
            rows=2,
            help="Optional. The agent's role, and when to use which tool.",
        ),
        Option(
            key="prompt",
            kind="template",
            label="Prompt",
            rows=4,
            required=True,
            help="The task, sent as the user message. Insert values from upstream nodes with {{ node.field }}.",
        ),
        Option(
            key="tools",
            kind="tools",
            label="Tools",
            help="Workflows of yours (their input fields are the parameters) and HTTP calls "
            "(their templates also see {{ args }}).",
        ),
        Option(
            key="max_steps",
            kind="integer",
            label="Max tool calls",
            minimum=1,
            maximum=MAX_STEPS,
            default=5,
            help="A model asking for more fails the node (resource_limit).",
        ),
        model_options.TEMPERATURE,
        model_options.max_tokens(advanced=True),
        model_options.timeout("Timeout per model call (seconds)"),
    )
    outputs = ("text", "steps", "model", "usage.total_tokens", "cost_usd")
    starter = {"prompt": "", "tools": []}
    starter_id = "agent"
    fed_by = "prompt"

    @classmethod
    def lists_for(cls, config: dict) -> tuple[str, ...]:
        return ("steps",)

    def configure(self, reader: ConfigReader) -> None:
        super().configure(reader)
        self.declared: tuple[Tool, ...] = self._read_tools(reader) if self.tools is not None else ()

    def _read_tools(self, reader: ConfigReader) -> tuple[Tool, ...]:
        if not isinstance(self.tools, list):
            reader.problem("tools", "invalid_value", "'tools' must be a list of tools")
            return ()
        if len(self.tools) > MAX_TOOLS:
            reader.problem("tools", "invalid_value", f"an agent has at most {MAX_TOOLS} tools")
            return ()
        found, names = [], set()
        for index, spec in enumerate(self.tools):
            tool = self._read_tool(spec, f"tools[{index}]", reader)
            if tool is None:
                continue
            if tool.name in names:
                reader.problem(f"tools[{index}].name", "duplicate_id", f"two tools are named '{tool.name}'")
                continue
            names.add(tool.name)
            found.append(tool)
        return tuple(found)

    def _read_tool(self, spec: Any, where: str, reader: ConfigReader) -> Tool | None:
        from . import node_type  # the registry imports this module

        if not isinstance(spec, dict):
            reader.problem(where, "invalid_value", "a tool is an object with a name and a workflow_id or http")
            return None
        before = len(reader.problems)
        for key in spec:
            if key not in _TOOL_KEYS:
                reader.problem(f"{where}.{key}", "invalid_value", f"unknown tool option '{key}'")
        name, description = spec.get("name"), spec.get("description")
        if not isinstance(name, str) or not _TOOL_NAME.fullmatch(name):
            reader.problem(f"{where}.name", "invalid_value", "a tool's name is 1 to 64 letters, digits, _ or -")
        if description is not None and not isinstance(description, str):
            reader.problem(f"{where}.description", "invalid_value", "a tool's description is text")
        workflow_id, http = spec.get("workflow_id"), spec.get("http")
        if (workflow_id is None) == (http is None):
            reader.problem(where, "invalid_value", "a tool has either a 'workflow_id' or an 'http' call")
            return None
        if workflow_id is not None:
            if not isinstance(workflow_id, str) or not workflow_id.strip():
                reader.problem(f"{where}.workflow_id", "invalid_value", "'workflow_id' must be a workflow's id")
            if spec.get("parameters") is not None:
                reader.problem(
                    f"{where}.parameters", "invalid_value", "a workflow tool's parameters are its input fields"
                )
            if len(reader.problems) > before:
                return None
            return Tool(name, description or "", workflow_id=workflow_id)
        fields, problems = fields_of(spec.get("parameters") or {"type": "object", "properties": {}})
        for at, message in problems:
            reader.problem(f"{where}.parameters{'.' + at if at else ''}", "invalid_value", message)
        if not isinstance(http, dict):
            reader.problem(f"{where}.http", "invalid_value", "'http' must be an http_request node's config")
            return None
        inner_reader = ConfigReader(http, f"{reader.path}.{where}.http", reader.expressions, reader.problems)
        impl = node_type("http_request")(self.id, http, inner_reader)
        # Upstream names its templates read are the agent's to check; args is the tool's own.
        reader.references += [(path, names - ARG_NAMES) for path, names in inner_reader.references]
        if len(reader.problems) > before:
            return None
        return Tool(name, description or "", fields=tuple(fields), http=InnerStep(self.id, "http_request", http, impl))

    def prepare(self, ctx: RunContext) -> AgentPlan:
        system = as_text(self.evaluate(self.system, ctx)) if self.system else ""
        return AgentPlan(system, as_text(self.evaluate(self.prompt, ctx)))

    def shown(self, plan: AgentPlan) -> dict:
        return {"system": plan.system, "prompt": plan.prompt, "tools": [tool.summary() for tool in self.declared]}

    def perform(self, plan: AgentPlan, ctx: RunContext) -> NodeOutcome:
        if ctx.models is None:
            raise NodeError(ErrorCode.MODEL_ERROR, "no model gateway is configured")
        return _Loop(self, plan, ctx).run()


@dataclass
class _Loop:
    """One agent node's run: model calls and tool calls, in turn, with what they spent."""

    node: AgentNode
    plan: AgentPlan
    ctx: RunContext
    steps: list[dict] = field(default_factory=list)
    usage: Any = ZERO_USAGE
    cost: float = 0.0
    saved: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self) -> NodeOutcome:
        tools = self._resolve()
        declared = tuple(_declaration(tool, fields) for tool, fields in tools.values())
        messages: list = [("system", self.plan.system)] if self.plan.system else []
        messages.append(("user", self.plan.prompt))
        while True:
            self._check_stopped()
            reply = self._ask(messages, declared)
            if not reply.tool_calls:
                return self._outcome(reply)
            if len(self.steps) + len(reply.tool_calls) > self.node.max_steps:
                asked = len(self.steps) + len(reply.tool_calls)
                message = f"the model asked for {asked} tool calls; max_steps is {self.node.max_steps}"
                raise NodeError(ErrorCode.RESOURCE_LIMIT, message, spent=self._spent())
            messages.append(_assistant(reply))
            for call, (step, content) in zip(reply.tool_calls, self._call_all(reply.tool_calls, tools), strict=True):
                self.steps.append(step)
                messages.append({"role": "tool", "tool_call_id": call.id, "content": content})

    # -- the model -------------------------------------------------------------------

    def _ask(self, messages: list, declared: tuple[dict, ...]) -> ModelReply:
        node = self.node
        request = ModelRequest(
            model=node.model,
            messages=tuple(messages),
            temperature=node.temperature,
            max_tokens=node.max_tokens,
            cache=False,  # a conversation with tools is not a cacheable question
            timeout=node.timeout,
            provider=node.provider,
            tools=declared,
        )
        try:
            reply = self.ctx.models.complete(request, deadline=self.ctx.deadline, stopped=self.ctx.stopped)
        except NodeError as exc:
            raise NodeError(exc.code, exc.message, attempts=exc.attempts, spent=self._spent()) from None
        self._count(reply.usage, reply.cost_usd, reply.cost_saved_usd)
        return reply

    def _outcome(self, reply: ModelReply) -> NodeOutcome:
        spent = self._spent()
        spent.output = {
            "text": reply.text,
            "steps": self.steps,
            "model": reply.model,
            "usage": self.usage.as_dict(),
            "cost_usd": self.cost,
        }
        return spent

    # -- the tools ---------------------------------------------------------------------

    def _resolve(self) -> dict[str, tuple[Tool, tuple[InputField, ...]]]:
        """Each tool with its parameters: a workflow tool's from its workflow, which the
        running user must be allowed to read (else the node fails, before any call)."""
        resolved = {}
        for tool in self.node.declared:
            if tool.workflow_id is None:
                resolved[tool.name] = (tool, tool.fields)
                continue
            if self.ctx.workflows is None:
                raise NodeError("not_found", "workflows cannot be run from here")
            found = self.ctx.workflows.tool(tool.workflow_id)
            resolved[tool.name] = (replace(tool, description=tool.description or found.description), found.fields)
        return resolved

    def _call_all(self, calls: tuple[ToolCall, ...], tools: dict) -> list[tuple[dict, str]]:
        """Every call of one answer, at once within NODE_CONCURRENCY, in the answer's order."""
        try:
            if len(calls) == 1:
                return [self._call(calls[0], tools)]
            width = min(len(calls), self.ctx.limits.max_parallel)
            with ThreadPoolExecutor(width, thread_name_prefix=f"agent-{self.node.id}") as pool:
                futures = [pool.submit(self._call, call, tools) for call in calls]
            return [future.result() for future in futures]  # the first failure, in the answer's order
        except NodeError as exc:  # a failure the model cannot act on: the node fails, with all it spent
            raise NodeError(exc.code, exc.message, spent=self._spent()) from None

    def _call(self, call: ToolCall, tools: dict) -> tuple[dict, str]:
        """One tool call: its step record, and what goes back to the model."""
        self._check_stopped()
        started = time.monotonic()
        step: dict[str, Any] = {"tool": call.name, "arguments": call.arguments}
        try:
            if call.name not in tools:
                raise NodeError("unknown_tool", f"there is no tool named '{call.name}'")
            tool, fields = tools[call.name]
            arguments, wrong = check_arguments(list(fields), call.arguments)
            if wrong:
                raise NodeError("invalid_arguments", wrong)
            step["arguments"] = arguments
            output = self._workflow(tool, arguments, step) if tool.workflow_id else self._http(tool, arguments)
            step["output"] = output
            content = json.dumps(output, ensure_ascii=False)
        except NodeError as exc:
            if exc.code not in SOFT_CODES:
                raise NodeError(exc.code, f"tool '{call.name}': {exc.message}") from None
            step["error"] = exc.message
            content = json.dumps({"error": exc.message}, ensure_ascii=False)
        step["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
        return step, content

    def _workflow(self, tool: Tool, arguments: dict, step: dict) -> Any:
        ctx = self.ctx
        child = ctx.workflows.run(tool.workflow_id, arguments, deadline=ctx.deadline, stopped=ctx.stopped)
        step["execution_id"] = child.execution_id
        self._count(child.usage, child.cost_usd, 0.0)
        if child.status == RunStatus.COMPLETED:
            return child.outputs or {}
        error = child.error or {}
        code = error.get("code") or "node_failed"
        why = f": {error['message']}" if error.get("message") else ""
        message = f"the child execution {child.execution_id} {child.status}{why}"
        if child.status == RunStatus.CANCELLED or code in HARD_CODES:
            raise NodeError(ErrorCode.CANCELLED if child.status == RunStatus.CANCELLED else code, message)
        raise NodeError("tool_failed", message)

    def _http(self, tool: Tool, arguments: dict) -> Any:
        """The tool's ``http_request``, run as the runner runs a node, its templates seeing ``args``."""
        values = {**self.ctx.values, "args": arguments}
        outcome = self.ctx.run_step(tool.http, replace(self.ctx, values=values))
        answer = outcome.output
        return {"status": answer["status"], "body": answer["json"] if answer["json"] is not None else answer["text"]}

    # -- what it spent, and stopping ------------------------------------------------------

    def _count(self, usage, cost: float, saved: float) -> None:
        with self.lock:
            self.usage = self.usage + usage if usage is not None else self.usage
            self.cost, self.saved = self.cost + cost, self.saved + saved

    def _spent(self) -> NodeOutcome:
        """What the loop spent so far; a failure carries it, with the steps made (shown on
        the failed node's record, to see why)."""
        with self.lock:
            return NodeOutcome(
                output={"steps": list(self.steps)} if self.steps else None,
                input=self.node.shown(self.plan),
                usage=self.usage,
                cost_usd=self.cost,
                cost_saved_usd=self.saved,
            )

    def _check_stopped(self) -> None:
        if self.ctx.stopped():
            message = f"stopped after {len(self.steps)} tool calls"
            raise NodeError(ErrorCode.CANCELLED, message, spent=self._spent())


def _declaration(tool: Tool, fields: tuple[InputField, ...]) -> dict:
    """A tool as OpenAI's tool calling declares it."""
    function = {"name": tool.name, "parameters": schema_of(list(fields))}
    if tool.description:
        function["description"] = tool.description
    return {"type": "function", "function": function}


def _assistant(reply: ModelReply) -> dict:
    """The model's answer asking for tool calls, as the conversation goes on with it."""
    calls = [
        {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}
        for call in reply.tool_calls
    ]
    return {"role": "assistant", "content": reply.text or None, "tool_calls": calls}
