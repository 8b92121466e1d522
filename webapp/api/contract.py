"""Each API operation declared once, on its view: what it reads, what it answers.

``@operation(...)`` names the operation's body and query schemas (``webapp/schemas``),
every status it answers with the schema of each, and the rules past its schema that
can still refuse a body (``Refusal``). The declaration does the work: before the view
runs, the query string and the body are validated against those schemas (400 for a
query string, 422 for a body, every problem listed); and the OpenAPI document
(``openapi.py``) is generated from the same declarations, so it cannot say one thing
while the code does another. A view receives ``body`` and ``query`` as parsed values.

Checks that must answer 404 or 403 before a body is read (a private workflow is
"not found" whatever one sends it) go in ``before``, called with the path's values.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import request

from ..schemas.base import Query, parse, parse_query
from .params import json_body

JSON = "application/json"
EVENT_STREAM = "text/event-stream"  # an execution's events (``streams.py``)


@dataclass(frozen=True)
class Answer:
    """One answer of an operation: its body's schema (``None``: no body) and words."""

    schema: Any
    description: str
    headers: dict = field(default_factory=dict)
    media_type: str = JSON
    events: Any = None  # the schema of one event, when the answer may be an event stream instead


@dataclass(frozen=True)
class Refusal:
    """A rule past the schema: a schema-valid body can still be refused with ``status``,
    its problems carrying ``code`` (the document names each, so a client — and the
    fuzzer — can tell a refusal it was promised from a disagreement)."""

    code: str
    rule: str
    status: int = 422


# Every string of a body is stored: PostgreSQL's text and jsonb cannot hold NUL.
NO_NUL = Refusal("invalid_value", "a string (or a name) holds a NUL character (U+0000), which no text column can store")


@dataclass(frozen=True)
class Operation:
    id: str
    summary: str
    tag: str
    answers: dict[int, Answer]
    errors: tuple[int, ...] = ()
    body: Any = None
    body_required: bool = True
    invalid_body: int = 422  # the status of a body its schema refuses
    example: Any = None
    query: type[Query] | None = None
    headers: tuple[dict, ...] = ()
    public: bool = False
    description: str | None = None
    refusals: tuple[Refusal, ...] = ()
    before: Callable[..., Any] | None = None

    @property
    def all_refusals(self) -> tuple[Refusal, ...]:
        return (*self.refusals, NO_NUL) if self.body is not None else self.refusals


def operation(
    operation_id: str,
    summary: str,
    *,
    tag: str,
    answers: dict[int, Answer | tuple],
    **details: Any,
) -> Callable:
    """Declare the view's operation (see the module's docstring); ``answers`` maps each
    success status to an ``Answer`` or ``(schema, description[, headers])``."""
    declared = Operation(
        operation_id,
        summary,
        tag,
        {status: a if isinstance(a, Answer) else Answer(*a) for status, a in answers.items()},
        **details,
    )

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def checked(**values: Any) -> Any:
            if declared.before is not None:
                declared.before(**values)
            if declared.query is not None:
                values["query"] = parse_query(declared.query, request.args)
            if declared.body is not None:
                raw = json_body(optional=not declared.body_required)
                values["body"] = parse(declared.body, raw, status=declared.invalid_body)
            return view(**values)

        checked.operation = declared  # type: ignore[attr-defined]
        return checked

    return decorate


def operation_of(view: Callable) -> Operation | None:
    return getattr(view, "operation", None)
