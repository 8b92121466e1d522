"""Run a validated graph: settle nodes in dependency order, branches in parallel.

The runner owns no storage. It reports through an ``Observer`` (node started, node
settled, should I stop, I am about to wait) and returns a ``RunResult``; the service
layer turns those into rows. Every observer call happens on the thread that called
``run``, so an observer needs no locking; only the ``TextSink`` it hands a node (a model's
streamed text) is called from the node's thread.

Scheduling: a node is ready once every incoming connection is settled. If none of
them was taken (untaken branch, skipped or failed-and-handled source on a path that
excludes it) the node is skipped; otherwise it runs. Quick node types run inline;
``blocking`` ones (model calls) go to a per-execution thread pool, so independent
model calls overlap while the cheap work costs no thread hand-offs.

A node's user code (its ``prepare``) runs through the ``Isolation`` the caller gives:
in production a sandbox process that is killed the moment the run must stop, so a
deadline or a cancel ends the work itself, even in the middle of a template.

Stopping: the run's ``StopSignal`` is what its threads wait on (``stopping.py``). It is
set the moment the run must end: at the deadline, when the loop learns of a stop, or
from any thread through ``Observer.listen`` (a cancel heard from elsewhere), so an
attempt waiting out a backoff or a ``Retry-After`` wakes at once and no call starts
after the stop. A call already under way is not cut: what it spends still counts.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, InvalidStateError, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager, nullcontext, suppress
from dataclasses import dataclass, field
from typing import Any

from .bounds import BoundedHttp, BoundedModels, BoundedWorkflows, bounded, json_size
from .definition import Edge, Graph, GraphNode
from .errors import ErrorCode, Interrupted, NodeError, execution_error_code
from .http_calls import HttpGateway
from .isolation import InProcess, Isolation
from .model_calls import ZERO_USAGE, ModelGateway, TextSink, Usage
from .nodes import NodeOutcome, OutputNode, RunContext
from .nodes.base import Limits
from .status import NodeStatus, RunStatus
from .stopping import StopSignal
from .workflow_calls import WorkflowGateway

POLL_SECONDS = 0.25  # how often a waiting runner asks whether it should stop
LATE_GRACE_SECONDS = 1.0  # how long a stopped run waits for its nodes in flight to report (then: ``late``)


@dataclass
class NodeRecord:
    node_id: str
    type: str
    status: str
    started_at: float | None = None
    finished_at: float | None = None
    input: Any = None
    output: Any = None
    error: dict | None = None
    usage: Usage | None = ZERO_USAGE  # None: unknown (the model server did not say)
    cost_usd: float = 0.0
    cost_saved_usd: float = 0.0
    cached: bool = False
    attempts: int = 0
    reused_from: str | None = None


@dataclass(frozen=True)
class Gateways:
    """How nodes reach outside the engine: models, HTTP APIs, other workflows."""

    models: ModelGateway | None = None
    http: HttpGateway | None = None
    workflows: WorkflowGateway | None = None


@dataclass(frozen=True)
class Stop:
    """Why a run must end early, and how: ``status`` is what the execution becomes;
    ``drain`` lets nodes already running finish (and be recorded) first."""

    code: str
    message: str
    status: str = RunStatus.FAILED
    drain: bool = False


@dataclass
class RunResult:
    status: str  # completed, failed, cancelled, or a Stop's status
    outputs: dict | None
    error: dict | None
    records: dict[str, NodeRecord] = field(default_factory=dict)
    stop: Stop | None = None
    # Nodes abandoned mid-call (recorded cancelled): a provider bills an answer whether or
    # not the run still waits for it, so what each spent comes back later (``when_late``).
    late: list[Future] = field(default_factory=list)

    def when_late(self, spent: Callable[[NodeRecord], None]) -> None:
        """``spent(record)`` for each abandoned node that comes back (answered, or failed
        after spending), on the node's own thread, or now if it already has. No call
        outlives its attempt's timeout, so neither does the wait for it."""

        def settled(future: Future) -> None:
            record = None if future.cancelled() or future.exception() else future.result()
            if record is not None:
                spent(record)

        for future in self.late:
            future.add_done_callback(settled)


class Observer:
    """Callbacks from the runner; the defaults do nothing."""

    def node_started(self, node_id: str, at: float) -> None:
        pass

    def node_settled(self, record: NodeRecord) -> None:
        pass

    def should_stop(self) -> Stop | None:
        return None

    def idle(self) -> None:
        """The runner is about to wait for in-flight nodes: a good moment to flush."""

    def waiting(self) -> AbstractContextManager:
        """Around the runner's waits on work outside its thread (nodes in flight, a sandbox)."""
        return nullcontext()

    def text_sink(self, node_id: str) -> TextSink | None:
        """Where the node's streamed model text goes (called from the node's thread); None: nowhere."""
        return None

    def listen(self, stop_now: Callable[[Stop], None]) -> None:
        """At the run's start: ``stop_now(reason)``, callable from any thread, ends the run
        at once (a cancel heard from elsewhere): every wait of the run wakes, and nothing
        starts after it. Without it, a stop is learned from ``should_stop`` at the next poll."""


def run(
    graph: Graph,
    inputs: dict,
    observer: Observer | None = None,
    *,
    models: ModelGateway | None = None,
    http: HttpGateway | None = None,
    workflows: WorkflowGateway | None = None,
    limits: Limits | None = None,
    prior: dict[str, NodeRecord] | None = None,
    only: frozenset[str] | None = None,
    isolation: Isolation | None = None,
) -> RunResult:
    """Run ``graph`` on ``inputs``. ``prior`` holds records of nodes that already
    completed (a retry, a resumed run, a test run's pinned outputs): they are reused, not
    run again. ``only``: the nodes that may run (a test run ``until`` one); the rest are skipped."""
    observer, limits, isolation = observer or Observer(), limits or Limits(), isolation or InProcess()
    gateways = Gateways(  # what a node sends goes through the bounds on its way out
        models and BoundedModels(models, limits.max_output_bytes),
        http and BoundedHttp(http, limits.max_output_bytes),
        workflows and BoundedWorkflows(workflows, limits.max_input_bytes),
    )
    return _Run(graph, inputs, observer, gateways, limits, prior or {}, isolation, only).execute()


class _Run:
    def __init__(self, graph, inputs, observer, gateways: Gateways, limits, prior, isolation, only=None) -> None:
        self.graph, self.inputs, self.observer, self.gateways, self.limits = graph, inputs, observer, gateways, limits
        self.isolation: Isolation = isolation
        self.deadline = time.monotonic() + limits.timeout if limits.timeout else None
        # Set when the run stops, or at its deadline: pool threads give up their steps and waits.
        self.signal = StopSignal(self.deadline)
        self.outside: Stop | None = None  # a stop from another thread (``Observer.listen``)
        self.woken: Future = Future()  # done at such a stop: ends the run loop's wait at once
        self.cut_short: list[tuple[GraphNode, float]] = []  # inline nodes interrupted by the stop
        self.records: dict[str, NodeRecord] = {}
        self.values: dict[str, Any] = {}
        self.taken: dict[Edge, bool] = {}
        self.waiting_on = {node_id: len(graph.incoming[node_id]) for node_id in graph.nodes}
        self.ready = deque(node_id for node_id in graph.order if not graph.incoming[node_id])
        self.in_flight: dict[Future, tuple[GraphNode, float]] = {}
        self.prior = {k: r for k, r in prior.items() if r.status == NodeStatus.COMPLETED and k in graph.nodes}
        self.only = only
        self.pool: ThreadPoolExecutor | None = None
        # Several output nodes merge into one record: its size is kept as they settle (on
        # this thread: an output node is not blocking).
        self.outputs_size = 0 if sum(isinstance(n.impl, OutputNode) for n in graph.nodes.values()) > 1 else None
        self.late: list[Future] = []
        self.error: dict | None = None
        self.stop: Stop | None = None

    # -- main loop -------------------------------------------------------------------

    def execute(self) -> RunResult:
        self.observer.listen(self._stop_from_outside)
        try:
            while self.error is None and self.stop is None:
                self._start_ready_nodes()
                if self.error or self.stop or not self.in_flight:
                    break
                self._wait_for_in_flight()
            if self.stop is not None and self.stop.drain:
                while self.in_flight and self.error is None:
                    self._wait_for_in_flight(draining=True)
            self.signal.set()
            self._collect_late()
            self._abandon_unsettled()
        finally:
            self.signal.set()
            if self.pool is not None:
                self.pool.shutdown(wait=False, cancel_futures=True)
        return self._result()

    def _start_ready_nodes(self) -> None:
        while self.ready and self.error is None:
            self.stop = self.stop or self._stop_reason()
            if self.stop is not None:
                return
            node = self.graph.nodes[self.ready.popleft()]
            if node.id in self.prior:
                self._settle(node, self.prior[node.id], announce=False)
            elif self._skipped(node.id):
                self._settle(node, NodeRecord(node.id, node.type, NodeStatus.SKIPPED))
            elif node.impl.blocking:
                self._submit(node)
            else:
                started = time.time()
                self.observer.node_started(node.id, started)
                record = self._execute(node, self.values, self._inline_stop)
                if record is None:
                    self.cut_short.append((node, started))
                else:
                    self._settle(node, record)

    def _skipped(self, node_id: str) -> bool:
        """Outside what may run (``only``), or every way in is untaken or skipped."""
        if self.only is not None and node_id not in self.only:
            return True
        incoming = self.graph.incoming[node_id]
        return bool(incoming) and not any(self.taken[e] for e in incoming)

    def _submit(self, node: GraphNode) -> None:
        if self.pool is None:
            self.pool = ThreadPoolExecutor(self.limits.max_parallel, thread_name_prefix="node")
        started = time.time()
        self.observer.node_started(node.id, started)
        future = self.pool.submit(self._execute, node, dict(self.values), self.signal)
        self.in_flight[future] = (node, started)

    def _wait_for_in_flight(self, draining: bool = False) -> None:
        self.observer.idle()
        timeout = POLL_SECONDS
        if self.deadline is not None:
            timeout = max(0.0, min(timeout, self.deadline - time.monotonic()))
        with self.observer.waiting():
            done, _ = wait([*self.in_flight, self.woken], timeout=timeout, return_when=FIRST_COMPLETED)
        self.stop = self.stop or self.outside  # set before the signal that may have ended these nodes
        for future in done:
            if future is self.woken:
                continue
            node, started = self.in_flight.pop(future)
            record = future.result()
            if record is None:  # gave up its step because the run ended: abandoned below
                self.cut_short.append((node, started))
            elif self.stop is not None and not self.stop.drain:  # ended by the stop: it decides nothing
                self._record(record)
            else:
                self._settle(node, record)
        if not draining and self.error is None:
            self.stop = self.stop or self._stop_reason()

    def _stop_reason(self) -> Stop | None:
        if self.outside is not None:
            return self.outside
        if self._past_deadline():
            return Stop("timeout", f"the execution ran longer than {self.limits.timeout:g} s")
        return self.observer.should_stop()

    def _past_deadline(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def _inline_stop(self) -> bool:
        """Asked while an inline step computes (for longer than a moment), on the
        runner's thread: a good time to show it running, and to look for a stop."""
        self.observer.idle()
        self.stop = self.stop or self._stop_reason()
        return self.stop is not None

    def _stop_from_outside(self, stop: Stop) -> None:
        """From any thread: the run must end (a cancel). Waits in the run's threads wake
        now; the run loop, woken too, stops with this reason."""
        if self.outside is None:
            self.outside = stop
        self.signal.set()
        if not self.woken.done():
            with suppress(InvalidStateError):  # woken by another thread meanwhile
                self.woken.set_result(None)

    # -- one node ----------------------------------------------------------------------

    def _execute(self, node: GraphNode, values: dict, stop) -> NodeRecord | None:
        """Runs on the pool for blocking nodes: touches nothing shared. The record's
        start is when the node really began, which may be after a wait for a slot.
        None: the run stopped while the node's user code was computing."""
        started = time.time()
        context = RunContext(
            node.id,
            values,
            self.inputs,
            self.gateways.models,
            self.gateways.http,
            self.gateways.workflows,
            deadline=self.deadline,
            stopped=self.signal,
            limits=self.limits,
            run_step=self._run_step,
            text=self.observer.text_sink(node.id),
        )
        prepared = None
        try:
            prepared = self._prepared(node, context, stop)
            outcome = self._within_outputs(node, self._performed(node, prepared, context))
        except Interrupted:
            return None
        except NodeError as exc:
            attempts = exc.attempts if exc.attempts is not None else 1
            spent = exc.spent or NodeOutcome(None)
            # Stopped by the run's cancel or deadline (a map or an agent says what it got to): cancelled, not
            # failed, whether the node says so before the run loop ends or after.
            stopped = exc.code == ErrorCode.CANCELLED and self.signal()
            return NodeRecord(
                node.id,
                node.type,
                NodeStatus.CANCELLED if stopped else NodeStatus.FAILED,
                started,
                time.time(),
                input=node.impl.shown(prepared) if prepared is not None else None,  # what it sent, to see why
                output=self._partial(spent.output),
                error=exc.as_dict(),
                usage=spent.usage,
                cost_usd=spent.cost_usd,
                attempts=attempts,
            )
        except Exception as exc:  # a bug in a node must fail the node, not the runner
            return NodeRecord(
                node.id,
                node.type,
                NodeStatus.FAILED,
                started,
                time.time(),
                error={"code": "internal_error", "message": f"{type(exc).__name__}: {exc}"},
                attempts=1,
            )
        return NodeRecord(
            node.id,
            node.type,
            NodeStatus.COMPLETED,
            started,
            time.time(),
            input=outcome.input,
            output=outcome.output,
            usage=outcome.usage,
            cost_usd=outcome.cost_usd,
            cost_saved_usd=outcome.cost_saved_usd,
            cached=outcome.cached,
            attempts=outcome.attempts,
        )

    # A node's two halves, and every value that crosses between them, bounded: what its
    # user code made (``prepare``), what it took and what it gave (``perform``'s outcome).

    def _prepared(self, node, context: RunContext, stop) -> Any:
        """The node's ``prepare``: in a sandbox process when its templates compute (the
        sandbox bounds what it hands back before it sends it), else here."""
        if not node.impl.isolated:
            return bounded(node.impl.prepare(context), self.limits.max_output_bytes, "what the step made")
        with self.observer.waiting():
            return self.isolation.prepare(node, context, stop)

    def _run_step(self, step, context: RunContext) -> NodeOutcome:
        """Another node run inside this one (a map's inner node), as the runner runs a node."""
        return self._performed(step, self._prepared(step, context, self.signal), context)

    def _performed(self, node, prepared: Any, context: RunContext) -> NodeOutcome:
        outcome = node.impl.perform(prepared, context)
        if outcome is prepared:  # a type without I/O: its ``run`` made it, measured as it was prepared
            return outcome
        return bounded(outcome, self.limits.max_output_bytes)

    def _partial(self, output: Any) -> Any:
        """What a failed node made before it failed (an agent's steps), to see why; it is
        recorded only, never handed downstream, and dropped when over the bound."""
        if output is None:
            return None
        try:
            return bounded(output, self.limits.max_output_bytes, "the output")
        except NodeError:
            return None

    def _within_outputs(self, node: GraphNode, outcome: NodeOutcome) -> NodeOutcome:
        """An output node's share of the execution's outputs, which are stored as one record."""
        if self.outputs_size is None or not isinstance(node.impl, OutputNode):
            return outcome
        size = self.outputs_size + json_size(node.impl.contribution(outcome.output))
        if size > self.limits.max_output_bytes:
            limit = self.limits.max_output_bytes
            message = f"the execution's outputs would be {size:,} bytes; the limit is {limit:,}"
            raise NodeError(ErrorCode.RESOURCE_LIMIT, message)
        self.outputs_size = size
        return outcome

    def _settle(self, node: GraphNode, record: NodeRecord, announce: bool = True) -> None:
        self.records[node.id] = record
        if announce:
            self.observer.node_settled(record)
        self.values[node.id] = record.output if record.status == NodeStatus.COMPLETED else None
        if record.status == NodeStatus.FAILED and node.on_error == "fail":
            message = record.error["message"] if record.error else "failed"
            code = execution_error_code(record.error["code"]) if record.error else "node_failed"
            self.error = {"code": code, "message": f"node '{node.id}' failed: {message}", "node_id": node.id}
            return
        branch = node.impl.branch_of(record.output) if record.status == NodeStatus.COMPLETED else None
        for edge in self.graph.outgoing[node.id]:
            self.taken[edge] = _is_taken(edge, record.status, node.on_error, branch)
            self.waiting_on[edge.target] -= 1
            if self.waiting_on[edge.target] == 0:
                self.ready.append(edge.target)

    def _collect_late(self) -> None:
        """Nodes in flight when the run stopped get a moment to come back (a model
        call ends by the deadline; none retries once the run has ended), so they are
        recorded as they ended; those still out are abandoned, and what they spend is
        counted when they land (``RunResult.late``). They change nothing downstream."""
        if not self.in_flight:
            return
        with self.observer.waiting():
            done, _ = wait(list(self.in_flight), timeout=LATE_GRACE_SECONDS)
        for future in done:
            node, started = self.in_flight.pop(future)
            record = future.result()
            if record is None:
                self.cut_short.append((node, started))
            else:
                self._record(record)

    def _abandon_unsettled(self) -> None:
        reason = self.error or ({"code": self.stop.code, "message": self.stop.message} if self.stop else None)
        if reason is None:
            return
        error = {"code": reason["code"], "message": "not finished: " + reason["message"]}
        now = time.time()
        for node, started in [*self.cut_short, *self.in_flight.values()]:  # abandoned mid-way: results dropped
            self._record(NodeRecord(node.id, node.type, NodeStatus.CANCELLED, started, now, error=error))
        self.late = list(self.in_flight)  # what they spend still counts (``RunResult.when_late``)
        self.in_flight.clear()
        for node_id in self.graph.order:
            if node_id not in self.records:
                self._record(NodeRecord(node_id, self.graph.nodes[node_id].type, NodeStatus.CANCELLED, error=error))

    def _record(self, record: NodeRecord) -> None:
        self.records[record.node_id] = record
        self.observer.node_settled(record)

    def _result(self) -> RunResult:
        if self.error is not None:
            return RunResult(RunStatus.FAILED, None, self.error, self.records, late=self.late)
        if self.stop is not None:
            error = {"code": self.stop.code, "message": self.stop.message, "node_id": None}
            return RunResult(self.stop.status, None, error, self.records, self.stop, self.late)
        outputs: dict = {}
        for node in self.graph.nodes.values():
            record = self.records.get(node.id)
            if isinstance(node.impl, OutputNode) and record is not None and record.status == NodeStatus.COMPLETED:
                outputs.update(node.impl.contribution(record.output))
        return RunResult(RunStatus.COMPLETED, outputs, None, self.records)


def _is_taken(edge: Edge, status: str, on_error: str, branch: str | None) -> bool:
    """docs/api.md, "The workflow definition" (error handling) and the conditional's branch rule, in one place."""
    if status == NodeStatus.SKIPPED:
        return False
    if status == NodeStatus.FAILED:  # a handled failure: 'continue' or 'branch'
        return edge.branch == "error" if on_error == "branch" else edge.branch != "error"
    if edge.branch == "error":
        return False
    if edge.branch in ("true", "false"):
        return edge.branch == branch
    return True
