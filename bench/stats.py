"""Medians and spreads: every figure is a median of repeated runs with its min–max."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass


def percentile(values: Sequence[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


@dataclass
class Figure:
    """One measured quantity over repeated runs."""

    median: float
    low: float
    high: float
    runs: int
    unit: str

    @classmethod
    def of(cls, values: Sequence[float], unit: str) -> Figure:
        values = [v for v in values if v is not None and not math.isnan(v)]
        if not values:
            return cls(math.nan, math.nan, math.nan, 0, unit)
        return cls(statistics.median(values), min(values), max(values), len(values), unit)

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Figure:
        return cls(**data)

    def text(self) -> str:
        return f"{fmt(self.median)} {self.unit}".strip()

    def spread(self) -> str:
        if self.runs <= 1:
            return "1 run"
        return f"{fmt(self.low)}–{fmt(self.high)} ({self.runs} runs)"


def fmt(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"
