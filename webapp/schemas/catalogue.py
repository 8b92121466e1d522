"""Template, audit and error bodies: the catalogue, the caller's audit trail, the envelope."""

from __future__ import annotations

from typing import Annotated, Required

from pydantic import Field
from typing_extensions import TypedDict

from .base import ANSWER, Count, Page, PageQuery, Timestamp, component, prefixed_id


class TemplateListQuery(PageQuery):
    category: str | None = Field(None, description="Only this category.")


class Template(TypedDict):
    __pydantic_config__ = ANSWER  # type: ignore[misc]
    id: prefixed_id("tpl")
    name: str
    description: str
    category: str
    how_to_use: str
    usage_count: Count
    example_inputs: Annotated[dict, Field(description="Inputs it runs with as it is; its run form starts from them.")]
    nodes: Annotated[list, component("Nodes")]
    connections: Annotated[list, component("Connections")]


class TemplateList(Page):
    __pydantic_config__ = ANSWER  # type: ignore[misc]
    templates: list[Template]


class AuditEvent(TypedDict):
    __pydantic_config__ = ANSWER  # type: ignore[misc]
    id: prefixed_id("evt")
    at: Timestamp
    actor: str
    action: Annotated[str, Field(examples=["workflow.created"])]
    target_type: str | None
    target_id: str | None
    ip: str | None


class AuditList(Page):
    __pydantic_config__ = ANSWER  # type: ignore[misc]
    events: list[AuditEvent]


class ErrorDetail(TypedDict):
    __pydantic_config__ = ANSWER  # type: ignore[misc]
    path: Annotated[str, Field(examples=["nodes[1].config.prompt"])]
    code: str
    message: str


class ErrorPart(TypedDict, total=False):
    __pydantic_config__ = ANSWER  # type: ignore[misc]
    code: Required[str]
    message: Required[str]
    details: Required[list[ErrorDetail]]
    retry_after: Annotated[int, Field(ge=0, description="Seconds to wait; 429 and 503 only.")]


class Error(TypedDict):
    """The one envelope. A 429 or 503 also says how long to wait (as its Retry-After header does)."""

    __pydantic_config__ = ANSWER  # type: ignore[misc]
    error: ErrorPart
