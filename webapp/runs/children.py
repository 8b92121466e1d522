"""A ``workflow`` node's child run: another workflow, run as an execution of its own.

The child is a real execution of the running user (in their history, with
``parent_execution_id`` and ``trigger`` ``workflow``), run right here in the node's
thread. It claims a place among the user's ``MAX_RUNNING_PER_USER`` as any run does,
waiting for one in this thread if need be, while its parent lends it its own
(``places.py``); a run its end wakes is dispatched here. It ends by its parent's
deadline and stops when its parent stops; its usage comes back to the node, so it
counts in the parent's totals too (the usage report counts top-level executions only,
so nothing is counted twice).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

from flask import Flask

from ..engine.errors import InputError, NodeError
from ..engine.model_calls import Usage
from ..engine.status import Trigger
from ..engine.stopping import Stopped, never
from ..engine.tools import WorkflowTool
from ..engine.workflow_calls import ChildRun
from ..errors import NotFound
from ..extensions import db
from ..models import Execution, User, new_id
from ..services.definitions import graph_for
from ..services.workflows import visible_workflow
from .heartbeat import heartbeat
from .places import Place
from .rows import insert_execution


@dataclass(frozen=True)
class Nested:
    """A child run inside another: its owner, the workflows on its call stack, when the
    run it is part of has to end, and whether that run stopped."""

    owner: str
    stack: tuple[str, ...]
    deadline: float | None
    stopped: Stopped


class ChildRuns:
    """The ``WorkflowGateway`` of one run: ``parent_id``'s, for ``user_id``, with the
    workflows on its call stack (the root's first), lending the parent's ``place`` to its
    children (None: no bound per user)."""

    def __init__(
        self,
        app: Flask,
        parent_id: str,
        user_id: str,
        stack: tuple[str, ...],
        lane: str,
        run: Callable,
        place: Place | None = None,
    ):
        self.app, self.parent_id, self.user_id, self.stack, self.lane = app, parent_id, user_id, stack, lane
        self.run_execution = run  # runs/execution.py's run_execution, handed in (it builds this object)
        self.place = place

    def run(
        self, workflow_id: str, inputs: dict, *, deadline: float | None = None, stopped: Stopped = never
    ) -> ChildRun:
        self._check_depth(workflow_id)
        with self.app.app_context():  # the node's own thread: its own session
            child_id = self._start(workflow_id, inputs)
            beat = heartbeat(self.app)
            beat.add(child_id)  # held by this process, like its parent
            try:
                with self.place.lent_to_child(stopped) if self.place else nullcontext():
                    outcome = self.run_execution(child_id, Nested(self.user_id, self.stack, deadline, stopped))
            finally:
                beat.discard(child_id)
            if outcome.woken is not None:  # after the parent took its place back: it goes on first
                from .dispatch import dispatcher  # (it imports the module that imports this one)

                dispatcher(self.app).requeue(outcome.woken)
            db.session.expire_all()
            child = db.session.get(Execution, child_id)
            usage = Usage(child.prompt_tokens, child.completion_tokens, child.total_tokens)
            return ChildRun(child.id, child.status, child.outputs, child.error, usage, child.cost_usd)

    def tool(self, workflow_id: str) -> WorkflowTool:
        with self.app.app_context():
            workflow = self._readable(workflow_id)
            graph = graph_for(workflow.id, workflow.version)
            fields = tuple(graph.input_node.fields) if graph.input_node is not None else ()
            return WorkflowTool(workflow.id, workflow.description or workflow.name, fields)

    def _readable(self, workflow_id: str):
        try:
            return visible_workflow(db.session.get(User, self.user_id), workflow_id)
        except NotFound:
            raise NodeError("not_found", f"no workflow '{workflow_id}' that you may read") from None

    def _check_depth(self, workflow_id: str) -> None:
        limit = self.app.config["MAX_WORKFLOW_DEPTH"]
        if workflow_id in self.stack:
            chain = " → ".join((*self.stack, workflow_id))
            raise NodeError("recursion", f"workflow {workflow_id} is already running in this chain: {chain}")
        if len(self.stack) > limit:
            raise NodeError("recursion", f"workflows may nest at most {limit} deep (MAX_WORKFLOW_DEPTH)")

    def _start(self, workflow_id: str, inputs: dict) -> str:
        """The child's rows, committed: readable by the running user, inputs checked."""
        workflow = self._readable(workflow_id)
        graph = graph_for(workflow.id, workflow.version)
        try:
            values = graph.validate_inputs(inputs)
        except InputError as exc:
            raise NodeError("invalid_input", "; ".join(p.message for p in exc.problems)) from None
        child = insert_execution(
            graph,
            new_id("exec"),
            workflow_id=workflow.id,
            workflow_version=workflow.version,
            user_id=self.user_id,
            inputs=values,
            trigger=Trigger.WORKFLOW,
            parent_execution_id=self.parent_id,
            queue=self.lane,
            job_id=None,
        )
        db.session.commit()
        return child.id
