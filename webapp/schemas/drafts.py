"""Draft, publish and version bodies (docs/api.md, "Drafts, versions and publishing").

A draft is kept whatever its problems, so its nodes and connections are any JSON
arrays here (the validator lists what is wrong with them in the answer's
``problems``); only a body that is not an object with those two arrays is malformed (400).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field
from typing_extensions import TypedDict

from .base import ANSWER, Body, Page, PageQuery, Timestamp, described, prefixed_id

NOTE_MAX = 1000

Version = Annotated[int, Field(ge=1)]
Note = Annotated[str, Field(max_length=NOTE_MAX)]
Unchecked = described("Any JSON; kept as sent, its problems listed in the answer.")


class DraftBody(Body):
    nodes: list[Unchecked] = Field(description="The draft's nodes, finished or not.")
    connections: list[Unchecked] = Field(description="The draft's connections, finished or not.")


class PublishRequest(Body):
    note: Note | None = Field(None, description="What changed, shown in the version list.")


class VersionListQuery(PageQuery):
    pass


# -- answers ---------------------------------------------------------------------------------


class DraftProblem(TypedDict):
    __pydantic_config__ = ANSWER  # type: ignore[misc]
    path: str
    code: str
    message: str


class Draft(TypedDict):
    """The owner's draft: what the editor changes and nothing runs unless asked to."""

    __pydantic_config__ = ANSWER  # type: ignore[misc]
    nodes: list[Unchecked]
    connections: list[Unchecked]
    based_on_version: Annotated[Version, Field(description="The published version the draft was last set from.")]
    updated_at: Timestamp
    changed: Annotated[bool, Field(description="Whether it differs from the latest published version.")]
    problems: Annotated[list[DraftProblem], Field(description="Empty: it can be published and run.")]


class VersionSummary(TypedDict):
    __pydantic_config__ = ANSWER  # type: ignore[misc]
    version: Version
    created_at: Timestamp
    published_by: Annotated[prefixed_id("user") | None, Field(description="null: published before drafts existed.")]
    note: str | None


class VersionList(Page):
    __pydantic_config__ = ANSWER  # type: ignore[misc]
    versions: list[VersionSummary]


class VersionDetail(VersionSummary):
    nodes: Unchecked
    connections: Unchecked
