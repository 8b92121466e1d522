"""What a run's ``version``, ``until`` and ``pinned`` choose (docs/api.md, "Test runs").

A test run may run the owner's draft (kept on the execution, as it was run: the draft
may change the next second), an older published version, only a node and what is
upstream of it, or take some nodes' outputs as given instead of running them. Any of
these makes it ``trigger: "test"``: it counts in usage and budgets, not in the
workflow's ``usage_count``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..engine.definition import Graph
from ..engine.errors import Problem
from ..engine.status import NodeStatus
from ..errors import NotFound, ValidationFailed
from ..extensions import db
from ..models import User, WorkflowVersion, utcnow
from ..services import drafts
from ..services.definitions import compile_definition, graph_for, refuse_oversized

DRAFT = "draft"


@dataclass(frozen=True)
class TestOptions:
    """What the caller asked for; all left out: the latest published version, whole."""

    version: str | int | None = None
    until: str | None = None
    pinned: dict[str, dict] = field(default_factory=dict)

    @property
    def asked(self) -> bool:
        return self.version is not None or self.until is not None or bool(self.pinned)


@dataclass(frozen=True)
class Chosen:
    graph: Graph
    version: int  # for a draft: the published version it grew from
    definition: dict | None  # the draft, when it is the draft that runs
    until: str | None
    pinned_rows: dict[str, dict]  # node id → its row, settled with the given output
    test: bool


def choose(user: User, workflow, options: TestOptions) -> Chosen:
    """The graph and what the run records of the options; 404 for a draft or a version
    the caller may not see, 422 for a draft with problems or options that do not fit."""
    definition = None
    if options.version == DRAFT:
        draft = drafts.draft_of(drafts.own_workflow(user, workflow.id))  # another's draft: 404
        definition, version = draft.definition, draft.based_on_version
        try:  # parsed once: it is the graph that runs, or every problem that stops it
            graph = compile_definition(definition)
        except ValidationFailed as exc:
            raise ValidationFailed("The draft has problems; fix them before running it", exc.details) from None
    else:
        version = workflow.version if options.version is None else options.version
        if db.session.get(WorkflowVersion, (workflow.id, version)) is None:
            raise NotFound(f"Workflow '{workflow.id}' has no version {version}")
        graph = graph_for(workflow.id, version)
    problems = []
    if options.until is not None and options.until not in graph.nodes:
        problems.append(Problem("until", "unknown_node", f"no node '{options.until}' in the version run"))
    problems += pinned_problems(graph, options.pinned)
    if problems:
        raise ValidationFailed("The test run does not fit the version it runs", problems)
    now, pinned_rows = utcnow(), {}
    for node_id, output in options.pinned.items():
        refuse_oversized(
            output, "MAX_NODE_OUTPUT_BYTES", f"pinned.{node_id}", "A pinned output is too large", "the output is"
        )
        pinned_rows[node_id] = {
            "status": NodeStatus.COMPLETED,
            "output": output,
            "pinned": True,
            "started_at": now,
            "finished_at": now,
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "total_tokens": 0,
        }
    test = options.until is not None or bool(pinned_rows) or definition is not None or version != workflow.version
    return Chosen(graph, version, definition, options.until, pinned_rows, test)


def pinned_problems(graph: Graph, pinned: dict[str, dict]) -> list[Problem]:
    """Given outputs that do not fit the graph: of no node in it, or not what its type gives
    (``NodeType.pinned_problem``). The editor's Test panel shows its stale pins by this too."""
    problems = []
    for node_id, output in pinned.items():
        if node_id not in graph.nodes:
            problems.append(Problem(f"pinned.{node_id}", "unknown_node", f"no node '{node_id}' in the version run"))
        elif (wrong := type(graph.nodes[node_id].impl).pinned_problem(output)) is not None:
            problems.append(Problem(f"pinned.{node_id}", "invalid_value", wrong))
    return problems
