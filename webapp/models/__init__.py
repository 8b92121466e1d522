"""Database models, one module per aggregate."""

from .audit import AuditEvent
from .base import isoformat, new_id, utcnow
from .cache import CachedResponse
from .evaluation import TestCase, TestRun, TestRunCase
from .execution import Execution, ExecutionCount, IdempotencyKey, NodeRun
from .provider import Provider
from .ratelimit import RateLimitCounter
from .template import Template
from .trigger import Trigger
from .user import ApiKey, BrowserSession, User
from .workflow import Rating, Workflow, WorkflowDraft, WorkflowVersion

__all__ = [
    "ApiKey",
    "AuditEvent",
    "BrowserSession",
    "CachedResponse",
    "Execution",
    "ExecutionCount",
    "IdempotencyKey",
    "NodeRun",
    "Provider",
    "RateLimitCounter",
    "Rating",
    "Template",
    "TestCase",
    "TestRun",
    "TestRunCase",
    "Trigger",
    "User",
    "Workflow",
    "WorkflowDraft",
    "WorkflowVersion",
    "isoformat",
    "new_id",
    "utcnow",
]
