"""Definitions in and out of the engine: validation with the app's limits, and a
cache of parsed graphs for the versions executions run."""

from __future__ import annotations

import json
from collections import OrderedDict

from flask import current_app

from ..engine.definition import Graph, Size, count_problem, parse_definition
from ..engine.errors import DefinitionError, Problem
from ..engine.expressions import Expressions
from ..errors import ValidationFailed
from ..extensions import db
from ..models import WorkflowVersion

GRAPH_CACHE_SIZE = 512


def expressions() -> Expressions:
    app = current_app._get_current_object()
    exprs = app.extensions.get("expressions")
    if exprs is None:
        exprs = app.extensions["expressions"] = Expressions(app.config["MAX_RENDER_CHARS"])
    return exprs


def definition_size(config) -> Size:
    """The deployment's bounds on a definition (validation and the OpenAPI document alike)."""
    return Size(config["MAX_NODES"], config["MAX_CONNECTIONS"], config["MAX_EXPRESSIONS"])


def oversized_json(value, setting: str, path: str, noun: str) -> Problem | None:
    """The problem with ``value`` if, as JSON, it is past the ``setting`` bound (bytes)."""
    limit = current_app.config[setting]
    size = len(json.dumps(value, ensure_ascii=False))
    if size > limit:
        return Problem(path, "invalid_value", f"{noun} {size} bytes; the limit is {limit}")
    return None


def refuse_oversized(value, setting: str, path: str, title: str, noun: str) -> None:
    """422 when ``value``, as JSON, is past the ``setting`` bound (bytes)."""
    problem = oversized_json(value, setting, path, noun)
    if problem is not None:
        raise ValidationFailed(title, [problem])


def oversize(definition: dict) -> Problem | None:
    """Past ``MAX_NODES``, ``MAX_CONNECTIONS`` or ``MAX_DEFINITION_BYTES``: what no page
    draws (whatever field the draft came in) and the validator refuses first."""
    return count_problem(definition, definition_size(current_app.config)) or oversized_json(
        definition, "MAX_DEFINITION_BYTES", "nodes", "the definition is"
    )


def compile_definition(definition: dict) -> Graph:
    """The graph, or ``ValidationFailed`` (422) listing every problem."""
    refuse_oversized(
        definition, "MAX_DEFINITION_BYTES", "nodes", "Workflow definition is too large", "the definition is"
    )
    try:
        return parse_definition(definition, expressions(), size=definition_size(current_app.config))
    except DefinitionError as exc:
        raise ValidationFailed(exc.message, exc.problems) from None


def problems_in(definition: dict) -> list[Problem]:
    """Every problem of a definition that may be unfinished (a draft): the validator's
    list, empty when it would publish."""
    try:
        compile_definition(definition)
    except ValidationFailed as exc:
        return list(exc.details or [Problem("nodes", "invalid_value", exc.message)])
    return []


def graph_for(workflow_id: str, version: int) -> Graph:
    """Versions never change, so a parsed graph is reused for every run of one (its
    definition is only read, to parse it, the first time)."""
    cache: OrderedDict = current_app.extensions.setdefault("graph_cache", OrderedDict())
    key = (workflow_id, version)
    graph = cache.get(key)
    if graph is None:
        graph = compile_definition(db.session.get(WorkflowVersion, key).definition)
        cache[key] = graph
        while len(cache) > GRAPH_CACHE_SIZE:
            cache.popitem(last=False)
    return graph


def graph_of_run(workflow_id: str, version: int, definition: dict | None) -> Graph:
    """The graph an execution runs: the draft it was given (a test run), else its version."""
    return compile_definition(definition) if definition is not None else graph_for(workflow_id, version)


def definition_of(body: dict) -> dict:
    return {"nodes": body.get("nodes"), "connections": body.get("connections") or []}
