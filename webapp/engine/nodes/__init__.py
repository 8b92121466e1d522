"""The node type registry: a class per type, looked up by its ``type_name``.

Adding a node type is one new module here and one line below: the class describes
the type (``base.NodeType``), and everything outside the engine reads that
description through ``node_types.py``.
"""

from __future__ import annotations

from .base import ConfigReader, NodeOutcome, NodeType, RunContext

_REGISTRY: dict[str, type[NodeType]] = {}


def register(node_type: type[NodeType]) -> type[NodeType]:
    _REGISTRY[node_type.type_name] = node_type
    return node_type


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def node_type(name: str) -> type[NodeType] | None:
    return _REGISTRY.get(name)


def type_names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


from .agent import AgentNode  # noqa: E402
from .ai_model import AiModelNode  # noqa: E402
from .conditional import ConditionalNode  # noqa: E402
from .http_request import HttpRequestNode  # noqa: E402
from .input import InputNode  # noqa: E402
from .map import MapNode  # noqa: E402
from .output import OutputNode  # noqa: E402
from .processing import ProcessingNode  # noqa: E402
from .workflow import WorkflowNode  # noqa: E402

for _cls in (
    InputNode,
    AiModelNode,
    ProcessingNode,
    ConditionalNode,
    HttpRequestNode,
    MapNode,
    WorkflowNode,
    AgentNode,
    OutputNode,
):
    register(_cls)

__all__ = [
    "AgentNode",
    "AiModelNode",
    "ConditionalNode",
    "ConfigReader",
    "HttpRequestNode",
    "InputNode",
    "MapNode",
    "NodeOutcome",
    "NodeType",
    "OutputNode",
    "ProcessingNode",
    "RunContext",
    "WorkflowNode",
    "node_type",
    "register",
    "type_names",
    "unregister",
]
