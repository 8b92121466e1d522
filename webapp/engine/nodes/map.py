"""``map``: one inner node run for every item of a list, several at once.

The inner node is a node of its own type (``ai_model``, ``processing``,
``http_request`` or ``workflow``) written without an id; its templates see the
upstream values and also ``item`` and ``index``. Each item runs as the node would:
its templates where they are bounded (a sandbox process when they compute), its I/O
here; the run's cancel and deadline stop it between items and inside them.
"""

from __future__ import annotations

import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import Any

from ..errors import Interrupted, NodeError
from ..model_calls import ZERO_USAGE
from ..options import Choice, Option
from ..status import NodeStatus
from .base import ConfigReader, NodeOutcome, NodeType, RunContext

INNER_TYPES = ("ai_model", "processing", "http_request", "workflow")
ITEM_NAMES = frozenset({"item", "index"})  # what an inner template sees besides upstream values
POLL_SECONDS = 0.05


@dataclass(frozen=True)
class InnerStep:
    """The inner node as the runner's ``run_step`` (and a sandbox) sees a node."""

    id: str
    type: str
    config: dict
    impl: NodeType


class MapNode(NodeType):
    type_name = "map"
    label = "Map"
    summary = "Runs one inner node for every item of a list, several at once."
    colour = "#65a30d"
    blocking = True
    options = (
        Option(
            key="items",
            kind="template_line",
            label="Items",
            required=True,
            placeholder="{{ in.urls }}",
            help="A template giving a list.",
            gives_list=True,
        ),
        Option(
            key="node",
            kind="node",
            label="For each item",
            required=True,
            choices=tuple(Choice(value=kind) for kind in INNER_TYPES),
            help="One node, run per item; its templates also see {{ item }} and {{ index }}.",
        ),
        Option(
            key="concurrency",
            kind="integer",
            label="Items at once",
            minimum=1,
            maximum=64,
            placeholder="server default",
            help="At most the server's NODE_CONCURRENCY, which is also the default.",
        ),
        Option(
            key="on_item_error",
            kind="choice",
            label="When an item fails",
            default="fail",
            choices=(
                Choice(value="fail", label="Fail the node"),
                Choice(value="skip", label="Skip it (its value is null, its error listed)"),
            ),
        ),
    )
    # values: each item's whole output; results: each item's main value (text, value, json or outputs).
    outputs = ("results", "values", "errors")
    starter = {
        "items": "",
        "node": {"type": "processing", "config": {"operation": "template", "template": "{{ item }}"}},
    }
    starter_id = "each"
    fed_by = "items"

    @classmethod
    def lists_for(cls, config: dict) -> tuple[str, ...]:
        return cls.outputs

    def configure(self, reader: ConfigReader) -> None:
        super().configure(reader)
        self.inner = self._read_inner(reader) if self.node is not None else None

    def _read_inner(self, reader: ConfigReader) -> InnerStep | None:
        from . import node_type  # the registry imports this module

        spec, where = self.node, "node"
        if not isinstance(spec, dict):
            reader.problem(where, "invalid_value", "'node' must be an object with 'type' and 'config'")
            return None
        for key in spec:
            if key not in ("type", "config"):
                reader.problem(f"{where}.{key}", "invalid_value", f"unknown option '{key}' (an inner node has no id)")
        kind, config = spec.get("type"), spec.get("config") if spec.get("config") is not None else {}
        if kind not in INNER_TYPES:
            reader.problem(
                f"{where}.type", "invalid_value", f"the inner node's type must be one of {', '.join(INNER_TYPES)}"
            )
            return None
        if not isinstance(config, dict):
            reader.problem(f"{where}.config", "invalid_value", "'config' must be an object")
            return None
        inner_reader = ConfigReader(config, f"{reader.path}.{where}.config", reader.expressions, reader.problems)
        impl = node_type(kind)(self.id, config, inner_reader)
        # Upstream names the inner templates read are the map's to check; item and index are its own.
        reader.references += [(path, names - ITEM_NAMES) for path, names in inner_reader.references]
        return InnerStep(self.id, kind, config, impl)

    def prepare(self, ctx: RunContext) -> list:
        items = self.evaluate(self.items, ctx)
        if not isinstance(items, list):
            raise NodeError("invalid_value", f"'items' must give a list, not {type(items).__name__}")
        return items

    def perform(self, items: list, ctx: RunContext) -> NodeOutcome:
        if len(items) > ctx.limits.max_map_items:  # here, not in prepare: a sandbox does not know the setting
            raise NodeError("resource_limit", f"{len(items)} items; a map takes at most {ctx.limits.max_map_items}")
        return _Mapping(self, items, ctx).run()


class _Mapping:
    """One map node's run over its items."""

    def __init__(self, node: MapNode, items: list, ctx: RunContext) -> None:
        self.node, self.items, self.ctx = node, items, ctx
        self.inner: InnerStep = node.inner
        self.outcomes: list[NodeOutcome | None] = [None] * len(items)
        self.errors: list[dict] = []
        self.failure: NodeError | None = None
        self.lock = threading.Lock()

    def run(self) -> NodeOutcome:
        # The run's NODE_CONCURRENCY bounds a map too: a definition cannot ask for more threads than that.
        most = self.ctx.limits.max_parallel
        width = min(self.node.concurrency or most, most, max(len(self.items), 1))
        pending = iter(range(len(self.items)))
        running: dict[Future, int] = {}
        with ThreadPoolExecutor(width, thread_name_prefix=f"map-{self.node.id}") as pool:
            while True:
                while len(running) < width and not self._should_end():
                    index = next(pending, None)
                    if index is None:
                        break
                    running[pool.submit(self._one, index)] = index
                if not running:
                    break
                done, _ = wait(running, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
                for future in done:
                    running.pop(future)
        spent = self._spent()
        if self.failure is not None:
            raise NodeError(self.failure.code, self.failure.message, spent=spent)
        if self.ctx.stopped():
            finished = sum(1 for outcome in self.outcomes if outcome is not None)
            raise NodeError("cancelled", f"stopped after {finished} of {len(self.items)} items", spent=spent)
        values = [outcome.output if outcome else None for outcome in self.outcomes]
        main = type(self.inner.impl).main_value
        results = [main(value) if isinstance(value, dict) else None for value in values]
        spent.output = {"results": results, "values": values, "errors": self.errors, "items": self._summary()}
        return spent

    def _should_end(self) -> bool:
        return self.failure is not None or self.ctx.stopped()

    def _one(self, index: int) -> None:
        if self._should_end():
            return
        values = {**self.ctx.values, "item": self.items[index], "index": index}
        item_ctx = replace(self.ctx, values=values)
        try:
            outcome = self.ctx.run_step(self.inner, item_ctx)  # bounded as the runner bounds a node
        except Interrupted:
            return
        except NodeError as exc:
            self._failed(index, exc)
            return
        except Exception as exc:  # a bug in a node fails its item, not the map's threads
            self._failed(index, NodeError("internal_error", f"{type(exc).__name__}: {exc}"))
            return
        self.outcomes[index] = outcome

    def _failed(self, index: int, exc: NodeError) -> None:
        with self.lock:
            self.errors.append({"index": index, "message": exc.message, "code": exc.code})
            if exc.spent is not None:
                self.outcomes[index] = replace(exc.spent, output=None)
            if self.node.on_item_error == "fail" and self.failure is None:
                self.failure = NodeError(exc.code, f"item {index} failed: {exc.message}")

    def _spent(self) -> NodeOutcome:
        """Every item's tokens and cost, summed (a failed item's too, when it says)."""
        usage, cost, saved = ZERO_USAGE, 0.0, 0.0
        for outcome in (o for o in self.outcomes if o is not None):
            usage = usage + outcome.usage if outcome.usage is not None else usage
            cost, saved = cost + outcome.cost_usd, saved + outcome.cost_saved_usd
        self.errors.sort(key=lambda error: error["index"])
        return NodeOutcome(
            output=None, input={"items": len(self.items)}, usage=usage, cost_usd=cost, cost_saved_usd=saved
        )

    def _summary(self) -> list[dict[str, Any]]:
        """Per item: how it ended, its tokens and cost (for the execution page)."""
        failed = {error["index"] for error in self.errors}
        rows = []
        for index, outcome in enumerate(self.outcomes):
            usage = outcome.usage if outcome is not None else None
            rows.append(
                {
                    "index": index,
                    "status": NodeStatus.FAILED if index in failed else NodeStatus.COMPLETED,
                    "tokens": usage.total_tokens if usage is not None else None,
                    "cost_usd": outcome.cost_usd if outcome is not None else 0.0,
                    "cached": bool(outcome and outcome.cached),
                }
            )
        return rows
