"""What a scenario gets (``Context``) and gives back (``Result``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .machine import merge_cpu
from .stack import GunicornConfig, gunicorn_for
from .stats import Figure


@dataclass
class Context:
    quick: bool
    repeats: int
    model_url: str
    gunicorn: GunicornConfig | None = None  # from --gunicorn; None: each Stack picks the set-up for its mode
    shared: dict = field(default_factory=dict)  # figures one scenario leaves for a later one (the RQ floor)

    def gunicorn_label(self) -> str:
        if self.gunicorn:
            return self.gunicorn.label()
        return f"{gunicorn_for('local').label()} in local mode, {gunicorn_for('queue').label()} in queue mode"

    def pick(self, full, quick):
        return quick if self.quick else full


@dataclass
class Row:
    """One case of a scenario: its figures, and whether the headline meets the target."""

    case: str
    figures: dict[str, Figure]
    conditions: str = ""
    target: str = ""
    met: bool | None = None
    cpu: dict = field(default_factory=dict)
    headline: str = ""  # the figure the target is about; the first one when empty

    @property
    def headline_name(self) -> str:
        return self.headline if self.headline in self.figures else next(iter(self.figures))

    def as_dict(self) -> dict:
        return {
            "case": self.case,
            "figures": {name: figure.as_dict() for name, figure in self.figures.items()},
            "conditions": self.conditions,
            "target": self.target,
            "met": self.met,
            "cpu": self.cpu,
            "headline": self.headline,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Row:
        figures = {name: Figure.from_dict(f) for name, f in data["figures"].items()}
        return cls(
            data["case"],
            figures,
            data["conditions"],
            data["target"],
            data["met"],
            data.get("cpu", {}),
            data.get("headline", ""),
        )


@dataclass
class Result:
    name: str
    title: str
    measures: str  # what exactly, in a sentence or two: goes under the section heading
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)  # scenario-specific data (the chart's points, profiles)

    def add(self, case: str, figures: dict[str, Figure], *, cpu_samples: list[dict] | None = None, **kw) -> Row:
        row = Row(case, figures, cpu=merge_cpu(cpu_samples or []), **kw)
        self.rows.append(row)
        return row

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "title": self.title,
            "measures": self.measures,
            "rows": [row.as_dict() for row in self.rows],
            "notes": self.notes,
            "extra": self.extra,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Result:
        rows = [Row.from_dict(r) for r in data["rows"]]
        return cls(data["name"], data["title"], data["measures"], rows, data["notes"], data.get("extra", {}))
