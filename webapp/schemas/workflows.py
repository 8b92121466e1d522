"""Workflow bodies: what a client sends to make or change one, and what it reads back.

The limits of a workflow's own fields are declared here, once: the API validates and
documents them from these types, the UI's forms and the template catalogue read the
same numbers, and the database columns are as wide.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field
from typing_extensions import TypedDict

from .base import (
    ANSWER,
    NOT_BLANK,
    Body,
    Count,
    Page,
    PageQuery,
    Timestamp,
    component,
    described,
    integer,
    one_of,
    prefixed_id,
)

NAME_MAX = 200
DESCRIPTION_MAX = 10_000
CATEGORY_MAX = 64
DEFAULT_CATEGORY = "general"
EXPORT_FORMAT = "ai-workflow"
EXPORT_VERSION = 1

# The definition docs/api.md shows (a model call, a length check, a truncating branch): the
# document's example, and the tests' ``spec_example``.
EXAMPLE_DEFINITION = {
    "nodes": [
        {
            "id": "in",
            "type": "input",
            "config": {"fields": [{"name": "product", "type": "string", "required": True, "max_length": 2000}]},
        },
        {
            "id": "draft",
            "type": "ai_model",
            "config": {
                "model": "gpt-4o-mini",
                "system": "You write marketing copy.",
                "prompt": "Describe {{ in.product }}",
                "temperature": 0.7,
                "max_tokens": 400,
            },
        },
        {"id": "long", "type": "conditional", "config": {"condition": "draft.text | length > 200"}},
        {
            "id": "short",
            "type": "processing",
            "config": {"operation": "truncate", "input": "{{ draft.text }}", "length": 200},
        },
        {"id": "out", "type": "output", "config": {"fields": {"copy": "{{ short.value if short else draft.text }}"}}},
    ],
    "connections": [
        {"from": "in", "to": "draft"},
        {"from": "draft", "to": "long"},
        {"from": "long", "to": "short", "branch": "true"},
        {"from": "long", "to": "out", "branch": "false"},
        {"from": "short", "to": "out"},
    ],
}

Name = Annotated[str, Field(min_length=1, max_length=NAME_MAX, pattern=NOT_BLANK)]
Description = Annotated[str, Field(max_length=DESCRIPTION_MAX)]
Category = Annotated[str, Field(max_length=CATEGORY_MAX)]
# The definition is checked by the engine (every problem with its path, the rules no schema
# can say); its schema comes from the node catalogue, built with the deployment's bounds.
Nodes = Annotated[Any, component("Nodes")]
Connections = Annotated[Any, component("Connections")]
_IGNORED = "Read-only: a client may send back what it read; the value is ignored."
Ignored = described(_IGNORED)
# What a workflow answer holds that a client may echo back in a create or change.
READ_ONLY_FIELDS = frozenset({"id", "version", "created_at", "updated_at", "created_by", "usage_count", "rating"})


class WorkflowFields(Body):
    """Name, description, category, visibility and definition; and what is ignored."""

    description: Description | None = Field(None, description="null: empty.")
    category: Category | None = Field(None, description=f"null or left out: '{DEFAULT_CATEGORY}'.")
    public: bool = False
    require_passing_tests: bool = Field(
        False, description="Publishing asks for a test run of the exact draft that passed every case."
    )
    connections: Connections | None = Field(None, description="null: no connections.")
    id: Ignored = None
    version: Ignored = None
    created_at: Ignored = None
    updated_at: Ignored = None
    created_by: Ignored = None
    usage_count: Ignored = None
    rating: Ignored = None

    def fields(self) -> dict:
        """What the service stores: the fields given, nulls read as their defaults."""
        given = self.given(without=READ_ONLY_FIELDS)
        defaults = {"description": "", "category": DEFAULT_CATEGORY, "connections": []}
        return {key: defaults[key] if value is None and key in defaults else value for key, value in given.items()}


class WorkflowCreate(WorkflowFields):
    name: Name
    nodes: Nodes


class WorkflowUpdate(WorkflowFields):
    """Fields left out keep their values; a changed definition bumps ``version``."""

    name: Name = None  # type: ignore[assignment]  # left out: unchanged
    nodes: Nodes = None


class RatingRequest(Body):
    rating: integer(ge=1, le=5)


class CloneRequest(Body):
    """Optional; the copy is named after the original unless ``name`` is given."""

    name: Name = None  # type: ignore[assignment]


class FromTemplateRequest(Body):
    template_id: Annotated[str, Field(examples=["tpl_01jc7m2kq3x8v4n5p6r7s8t9wa"])]
    name: Name | None = None
    description: Description | None = None
    public: bool = False


class ImportDocument(Body):
    """An export document; the new workflow is always private."""

    format: Literal["ai-workflow"]
    format_version: Literal[1]
    exported_at: Annotated[Any, described("Ignored.")] = None
    workflow: WorkflowCreate


# An export document, or (leniently) a create body; either way the new workflow is private.
ImportRequest = one_of(
    lambda body: "document" if isinstance(body, dict) and ("workflow" in body or "format" in body) else "create",
    document=ImportDocument,
    create=WorkflowCreate,
)


class WorkflowListQuery(PageQuery):
    category: str | None = Field(None, description="Only workflows of this category.")
    public: bool = Field(False, description="Also list other users' public workflows.")


# -- answers ---------------------------------------------------------------------------------


class WorkflowSummary(TypedDict):
    """Exactly the fields of a list item."""

    __pydantic_config__ = ANSWER  # type: ignore[misc]
    id: prefixed_id("wf")
    name: Annotated[str, Field(min_length=1, max_length=NAME_MAX)]
    description: str
    category: Annotated[str, Field(max_length=CATEGORY_MAX)]
    public: bool
    created_by: prefixed_id("user")
    created_at: Timestamp
    updated_at: Timestamp
    usage_count: Count
    rating: Annotated[float, Field(ge=1, le=5, description="The mean rating, one decimal.")] | None


class Workflow(WorkflowSummary):
    """A summary plus the version and the definition."""

    version: Annotated[int, Field(ge=1)]
    require_passing_tests: bool
    nodes: Nodes
    connections: Connections


class WorkflowList(Page):
    __pydantic_config__ = ANSWER  # type: ignore[misc]
    workflows: list[WorkflowSummary]


class ExportedWorkflow(TypedDict):
    __pydantic_config__ = ANSWER  # type: ignore[misc]
    name: Annotated[str, Field(min_length=1, max_length=NAME_MAX)]
    description: str
    category: str
    nodes: Nodes
    connections: Connections


class ExportDocument(TypedDict):
    __pydantic_config__ = ANSWER  # type: ignore[misc]
    format: Literal["ai-workflow"]
    format_version: Literal[1]
    exported_at: Timestamp
    workflow: ExportedWorkflow
