"""What the engine reports when a definition, an input or a node goes wrong."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum


class ErrorCode(StrEnum):
    """The codes an execution's ``error.code`` may carry (docs/api.md, "Executions"); a
    node's own error may carry others (``invalid_json``, ``expression_error``…), which
    its execution reports as ``node_failed``."""

    NODE_FAILED = "node_failed"
    MODEL_ERROR = "model_error"
    RATE_LIMITED = "rate_limited"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    WORKER_LOST = "worker_lost"
    BUDGET_EXCEEDED = "budget_exceeded"
    RESOURCE_LIMIT = "resource_limit"
    BLOCKED_DESTINATION = "blocked_destination"
    HTTP_ERROR = "http_error"
    RECURSION = "recursion"


EXECUTION_ERROR_CODES = frozenset(ErrorCode)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a document, located by a path like ``nodes[2].config.prompt``."""

    path: str
    code: str
    message: str

    def as_dict(self) -> dict:
        return asdict(self)


class DefinitionError(ValueError):
    """A definition failed validation; ``problems`` lists every reason at once."""

    def __init__(self, problems: list[Problem], message: str = "Workflow definition is invalid") -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems


class InputError(DefinitionError):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems, "Inputs do not match the workflow's input node")


class NodeError(Exception):
    """A node could not produce its output. ``code`` is machine-readable; ``spent``
    (a ``NodeOutcome``) is what it cost before it failed (a map's finished items)."""

    def __init__(self, code: str, message: str, *, attempts: int | None = None, spent=None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.attempts = attempts
        self.spent = spent

    def as_dict(self) -> dict:
        return {"code": self.code, "message": self.message}


class Interrupted(Exception):
    """The run stopped (cancel, deadline, shutdown) while a step was computing."""


def execution_error_code(node_error_code: str) -> str:
    """A failing node's code as the execution reports it: the model's own codes pass
    through, anything more specific (``invalid_json``, ``expression_error``…) is
    ``node_failed``."""
    return node_error_code if node_error_code in EXECUTION_ERROR_CODES else ErrorCode.NODE_FAILED
