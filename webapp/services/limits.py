"""Monthly budgets: tokens and dollars a user may spend per calendar month (UTC).

The defaults come from config (0 = unlimited); ``flask --app wsgi set-budget``
overrides them per user. An execution that would start over budget is refused;
one that crosses the line mid-run makes no further model call (each call is checked
before it goes, from whichever thread: a map's items run on several) and stops at its
next node.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from ..engine.errors import ErrorCode, NodeError
from ..engine.model_calls import ModelGateway, ModelReply, ModelRequest
from ..errors import RateLimited
from ..extensions import db
from ..models import Execution, TestRun, TestRunCase, User, utcnow


def month_start(moment: datetime) -> datetime:
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month_start(moment: datetime) -> datetime:
    start = month_start(moment)
    return start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)


def budgets(user: User) -> tuple[int, float]:
    """(tokens, dollars) per month; 0 means no limit."""
    return _budgets(user.token_budget, user.cost_budget)


def _budgets(token_override: int | None, cost_override: float | None) -> tuple[int, float]:
    config = current_app.config
    tokens = token_override if token_override is not None else config["MONTHLY_TOKEN_BUDGET"]
    dollars = cost_override if cost_override is not None else config["MONTHLY_COST_BUDGET"]
    return tokens, dollars


def spent_this_month(user_id: str) -> tuple[int, float]:
    """Tokens and cost since the month began: every top-level execution's, and what the
    judges of the user's test runs spent (a child's spend is in its parent's totals)."""
    since = month_start(utcnow())
    runs = select(
        func.coalesce(func.sum(Execution.total_tokens), 0), func.coalesce(func.sum(Execution.cost_usd), 0.0)
    ).where(Execution.user_id == user_id, Execution.created_at >= since, Execution.parent_execution_id.is_(None))
    judges = (
        select(func.coalesce(func.sum(TestRunCase.total_tokens), 0), func.coalesce(func.sum(TestRunCase.cost_usd), 0.0))
        .join(TestRun, TestRun.id == TestRunCase.test_run_id)
        .where(TestRun.user_id == user_id, TestRunCase.scored_at >= since)
    )
    (tokens, cost), (judge_tokens, judge_cost) = db.session.execute(runs).one(), db.session.execute(judges).one()
    return int(tokens) + int(judge_tokens), float(cost) + float(judge_cost)


def over_budget(user: User, extra_tokens: int = 0, extra_cost: float = 0.0) -> str | None:
    """Why ``user`` is over budget (counting ``extra`` spend not yet recorded), or None."""
    token_budget, cost_budget = budgets(user)
    if not token_budget and not cost_budget:
        return None
    tokens, cost = spent_this_month(user.id)
    if token_budget and tokens + extra_tokens >= token_budget:
        return f"the monthly budget of {token_budget} tokens is used up"
    if cost_budget and cost + extra_cost >= cost_budget:
        return f"the monthly budget of ${cost_budget:g} is used up"
    return None


@dataclass(frozen=True)
class BudgetWatch:
    """A running execution's view of its user's budget: what was spent before it
    started, so each node boundary can check without a query."""

    token_budget: int
    cost_budget: float
    tokens_before: int
    cost_before: float

    def exceeded(self, tokens: int, cost: float) -> str | None:
        if self.token_budget and self.tokens_before + tokens >= self.token_budget:
            return f"the monthly budget of {self.token_budget} tokens is used up"
        if self.cost_budget and self.cost_before + cost >= self.cost_budget:
            return f"the monthly budget of ${self.cost_budget:g} is used up"
        return None


@dataclass
class BudgetedModels:
    """A run's model gateway, held to its owner's budget call by call: over it, no call
    goes out (``budget_exceeded``), so a run overshoots by at most the calls already in
    flight (a map's ``concurrency``), not by a whole node's worth."""

    gateway: ModelGateway
    budget: BudgetWatch
    tokens: int = 0  # what this run's calls have spent so far
    cost: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def complete(self, request: ModelRequest, **call: Any) -> ModelReply:
        with self.lock:
            over = self.budget.exceeded(self.tokens, self.cost)
        if over:
            raise NodeError(ErrorCode.BUDGET_EXCEEDED, f"stopped: {over}")
        reply = self.gateway.complete(request, **call)
        with self.lock:
            self.tokens += reply.usage.total_tokens if reply.usage else 0
            self.cost += reply.cost_usd
        return reply


def watch_budget(user_id: str, token_override: int | None, cost_override: float | None) -> BudgetWatch | None:
    """None when the user has no budget (then nothing is queried)."""
    token_budget, cost_budget = _budgets(token_override, cost_override)
    if not token_budget and not cost_budget:
        return None
    tokens, cost = spent_this_month(user_id)
    return BudgetWatch(token_budget, cost_budget, tokens, cost)


def check_budget(user: User) -> None:
    reason = over_budget(user)
    if reason is not None:
        now = utcnow()
        retry_after = int((next_month_start(now) - now).total_seconds()) + 1
        raise RateLimited(f"Budget exceeded: {reason}", retry_after, code=ErrorCode.BUDGET_EXCEEDED)
