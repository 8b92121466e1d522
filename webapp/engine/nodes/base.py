"""What every node type shares: reading its config, and the shape of its result."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from jinja2.exceptions import TemplateSyntaxError

from ..errors import NodeError, Problem
from ..expressions import Compiled, ExpressionError, ExpressionLimit, Expressions, syntax_message
from ..http_calls import HttpGateway
from ..model_calls import ZERO_USAGE, ModelGateway, TextSink, Usage
from ..options import MISSING as _MISSING
from ..options import Option, Variants
from ..stopping import Stopped, never
from ..workflow_calls import WorkflowGateway


@dataclass(frozen=True)
class Limits:
    max_parallel: int = 8  # nodes of a run at once (NODE_CONCURRENCY); a map's items by default
    max_output_bytes: int = 1024 * 1024  # any value a node takes, makes or sends (MAX_NODE_OUTPUT_BYTES)
    max_input_bytes: int = 256 * 1024  # a child workflow's inputs, as an API call's (MAX_INPUT_BYTES)
    timeout: float | None = None  # seconds for the whole run
    max_map_items: int = 1000


@dataclass
class RunContext:
    """What a node sees while it runs: the outputs of the nodes upstream of it."""

    node_id: str
    values: dict[str, Any]
    inputs: dict[str, Any] = field(default_factory=dict)  # the run's inputs, for the input node
    models: ModelGateway | None = None
    http: HttpGateway | None = None
    workflows: WorkflowGateway | None = None
    deadline: float | None = None  # the run's, as a time.monotonic() value: outbound calls end by then
    stopped: Stopped = never  # whether the run has stopped: no new attempt after that
    limits: Limits = field(default_factory=Limits)
    # Runs another node (a map's inner node, per item) as the runner runs one: its user code
    # where it is bounded, every value it takes, makes and sends within the bounds.
    run_step: Callable[[Any, RunContext], NodeOutcome] | None = None
    # Where a model answer's text goes as it comes (the run's events); None: not streamed.
    text: TextSink | None = None


@dataclass
class NodeOutcome:
    output: Any
    input: Any = None
    usage: Usage | None = ZERO_USAGE  # None: a model call that did not report usage
    cost_usd: float = 0.0
    cost_saved_usd: float = 0.0
    cached: bool = False
    attempts: int = 1


@dataclass
class ConfigReader:
    """Reads one node's ``config``, recording every problem with its path instead of
    stopping at the first, and collecting what each template refers to."""

    config: dict
    path: str
    expressions: Expressions
    problems: list[Problem]
    references: list[tuple[str, frozenset[str]]] = field(default_factory=list)
    computes: bool = False  # some template does more than look values up
    _read: set[str] = field(default_factory=set)

    def problem(self, key: str | None, code: str, message: str) -> None:
        self.problems.append(Problem(f"{self.path}.{key}" if key else self.path, code, message))

    def raw(self, key: str, *, required: bool = False, default: Any = _MISSING) -> Any:
        """The option as given; ``default`` (a private sentinel unless set) when absent."""
        self._read.add(key)
        value = self.config.get(key)
        if value is None:
            if required:
                self.problem(key, "missing_field", f"'{key}' is required")
            return default
        return value

    def string(self, key: str, *, required=False, default=None, choices=None) -> str | None:
        value = self.raw(key, required=required)
        if value is _MISSING:
            return default
        if not isinstance(value, str):
            self.problem(key, "invalid_value", f"'{key}' must be a string")
            return default
        if choices is not None and value not in choices:
            self.problem(key, "invalid_value", f"'{key}' must be one of {', '.join(choices)}, not '{value}'")
            return default
        if required and not value.strip():
            self.problem(key, "missing_field", f"'{key}' must not be empty")
        return value

    def number(self, key: str, *, required=False, default=None, minimum=None, maximum=None, integer=False):
        value = self.raw(key, required=required)
        if value is _MISSING:
            return default
        kind = "an integer" if integer else "a number"
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            self.problem(key, "invalid_value", f"'{key}' must be {kind}")
            return default
        if integer and value != int(value):
            self.problem(key, "invalid_value", f"'{key}' must be {kind}")
            return default
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            bounds = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
            self.problem(key, "invalid_value", f"'{key}' must be {bounds}")
            return default
        return int(value) if integer else value

    def integer(self, key: str, **kwargs) -> int | None:
        return self.number(key, integer=True, **kwargs)

    def boolean(self, key: str, *, default: bool) -> bool:
        value = self.raw(key)
        if value is _MISSING:
            return default
        if not isinstance(value, bool):
            self.problem(key, "invalid_value", f"'{key}' must be true or false")
            return default
        return value

    def template(self, key: str, *, required=False, source=_MISSING, where=None) -> Compiled | None:
        """Compile the template at ``key`` (or ``source``, reported at ``where``)."""
        if source is _MISSING:
            source = self.raw(key, required=required)
            if source is _MISSING:
                return None
        where = where or key
        if not isinstance(source, str):
            self.problem(where, "invalid_value", f"'{where}' must be a template string")
            return None
        if required and not source.strip():
            self.problem(where, "missing_field", f"'{where}' must not be empty")
            return None
        return self._compile(where, source, self.expressions.template)

    def condition(self, key: str) -> Compiled | None:
        source = self.raw(key, required=True)
        if source is _MISSING:
            return None
        if not isinstance(source, str) or not source.strip():
            self.problem(
                key,
                "invalid_value" if not isinstance(source, str) else "missing_field",
                f"'{key}' must be an expression such as \"draft.text | length > 200\"",
            )
            return None
        return self._compile(key, source, self.expressions.condition)

    def templates(self, key: str, *, required=False, allow_empty=False) -> dict[str, Compiled] | None:
        """An object of name → template (an output's ``fields``, a merge's ``values``)."""
        value = self.raw(key, required=required)
        if value is _MISSING:
            return None
        if not isinstance(value, dict) or not (value or allow_empty):
            what = "an object" if allow_empty else "a non-empty object"
            self.problem(key, "invalid_value", f"'{key}' must be {what} of name → template")
            return None
        compiled = {}
        for name, source in value.items():
            if not name.strip():
                self.problem(key, "invalid_value", f"'{key}' has an empty name")
                continue
            compiled[name] = self.template(name, source=source, where=f"{key}.{name}")
        return compiled

    def read(self, option: Option) -> Any:
        """The option's value, checked against its declaration (kind, bounds, choices)."""
        key, kind, required = option.key, option.kind, option.required
        default = None if option.default is _MISSING else option.default
        if kind in ("text", "code", "separator", "choice"):
            return self.string(key, required=required, default=default, choices=option.values or None)
        if kind in ("number", "integer"):
            return self.number(
                key,
                required=required,
                default=default,
                minimum=option.minimum,
                maximum=option.maximum,
                integer=kind == "integer",
            )
        if kind == "boolean":
            return self.boolean(key, default=bool(default))
        if kind in ("template", "template_line"):
            return self.template(key, required=required)
        if kind == "expression":
            return self.condition(key)
        if kind == "templates":
            return self.templates(key, required=required, allow_empty=option.allow_empty)
        if kind == "group":
            group = self.raw(key, default=default)
            if isinstance(group, bool) or not isinstance(group, (int, str)):
                self.problem(key, "invalid_value", f"'{key}' must be a group number or name")
                return default
            return group
        return self.raw(key, required=required, default=default)  # fields, node: the type reads them itself

    def _compile(self, where: str, source: str, compile_) -> Compiled | None:
        try:
            compiled = compile_(source)
        except TemplateSyntaxError as exc:
            self.problem(where, "syntax_error", syntax_message(exc))
            return None
        self.references.append((f"{self.path}.{where}", compiled.references))
        self.computes = self.computes or not compiled.lookup_only
        return compiled

    def finish(self) -> None:
        for key in self.config:
            if key not in self._read:
                self.problem(key, "invalid_value", f"unknown option '{key}'")


_INSTANCE_ATTRIBUTES = {"id", "references", "needs", "isolated", "variant"}
_COLOUR = re.compile(r"#[0-9a-f]{6}")


class NodeType:
    """A node type, described once: what it is called, the options of its config, what
    it outputs; then read and checked once per node, and run many times.

    Subclasses set ``type_name`` and the description below, implement ``run`` (or
    ``prepare`` and ``perform``), and register themselves (``nodes/__init__.py``).
    Everything else that knows about node types (validation, the editor's forms, the
    API's schemas, labels and colours) is derived from this description through
    ``node_types.py``. Each declared option's value becomes an attribute of the node
    (``self.prompt``), read and checked by ``ConfigReader.read``; a type with checks
    no declaration can say extends ``configure``.

    ``blocking`` types wait on I/O and run in the execution's thread pool; the rest
    are quick and run inline in the runner. A run has two halves. ``prepare`` computes
    from upstream values: it runs the user's templates, so it runs where it can be
    bounded and killed (``isolated`` types run it in a sandbox process,
    ``isolation.py``). ``perform`` does the I/O with what ``prepare`` returned (a model
    call) in the worker itself. A type with no I/O implements ``run``, which is its
    ``prepare``; ``perform`` passes it on.
    """

    type_name: ClassVar[str]
    label: ClassVar[str]  # "AI model"
    summary: ClassVar[str] = ""  # one line: what it does
    colour: ClassVar[str] = "#64748b"  # its tone in the editor and the graph
    options: ClassVar[tuple[Option, ...]] = ()
    variants: ClassVar[Variants | None] = None
    outputs: ClassVar[tuple[str, ...]] = ()  # what templates downstream may refer to ("text", "usage.total_tokens")
    starter: ClassVar[dict] = {}  # a new node's config in the editor
    starter_id: ClassVar[str] = "step"
    fed_by: ClassVar[str | None] = None  # the template a new node fills with what comes in
    takes_input: ClassVar[bool] = True  # whether connections may lead into it (an input starts a flow)
    branches: ClassVar[tuple[str, ...]] = ()  # labelled exits: every connection leaving it names one
    blocking: ClassVar[bool] = False
    runs_user_code: ClassVar[bool] = True  # its templates may compute: bound them in a sandbox process

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        clashes = {o.key for o in cls.options} & (set(dir(NodeType)) | _INSTANCE_ATTRIBUTES)
        if clashes:
            raise TypeError(f"{cls.__name__}: options {sorted(clashes)} would hide NodeType's own attributes")
        if not _COLOUR.fullmatch(cls.colour):
            raise TypeError(f"{cls.__name__}: colour {cls.colour!r} is not #rrggbb")

    def __init__(self, node_id: str, config: dict, reader: ConfigReader) -> None:
        self.id = node_id
        self.configure(reader)
        reader.finish()
        self.references = reader.references
        self.needs = frozenset().union(*(names for _, names in self.references))  # the values it reads
        # Templates that only look values up cannot run away: no process hop for them.
        self.isolated = self.runs_user_code and reader.computes

    @classmethod
    def variant_of(cls, config: dict) -> str | None:
        """Which variant ``config`` is (its operation): picks the options that apply."""
        if cls.variants is None:
            return None
        value = config.get(cls.variants.key)
        return value if isinstance(value, str) else None

    @classmethod
    def options_for(cls, variant: str | None) -> tuple[Option, ...]:
        return tuple(option for option in cls.options if option.applies_to(variant))

    @classmethod
    def outputs_for(cls, config: dict) -> tuple[str, ...]:
        """What a node with ``config`` outputs, for templates downstream to refer to."""
        return cls.outputs

    @classmethod
    def lists_for(cls, config: dict) -> tuple[str, ...]:
        """Which of those may hold a list (what a map's items can refer to); the rest never
        do. A type that does not say is taken to be able to give a list anywhere."""
        return cls.outputs_for(config)

    @classmethod
    def pinned_problem(cls, output: dict) -> str | None:
        """What is wrong with ``output`` given in place of running a node of this type (a
        test run's ``pinned``), if the runner itself reads it (a branch)."""
        return None

    @classmethod
    def main_value(cls, output: dict) -> Any:
        """The one value that stands for an output (what a map lists per item)."""
        return output.get(cls.outputs[0]) if cls.outputs else None

    def configure(self, reader: ConfigReader) -> None:
        """Read every declared option that applies into an attribute of the same name."""
        self.variant = None
        if self.variants is not None:
            if self.variants.stored:
                self.variant = reader.string(self.variants.key, required=True, choices=self.variants.values)
                if self.variant is None:
                    return  # an unknown variant: its options are unknown too
            else:
                self.variant = self.variant_of(reader.config)
        for option in self.options_for(self.variant):
            setattr(self, option.key, reader.read(option))

    def run(self, ctx: RunContext) -> NodeOutcome:
        raise NotImplementedError

    def prepare(self, ctx: RunContext) -> Any:
        return self.run(ctx)

    def perform(self, prepared: Any, ctx: RunContext) -> NodeOutcome:
        return prepared

    def shown(self, prepared: Any) -> Any:
        """What ``prepare`` made, as a failed node's record shows it (the prompt a model
        call sent); a completed node's outcome says it itself."""
        return None

    def branch_of(self, output: Any) -> str | None:
        """Which labelled branch (``"true"``/``"false"``) a completed run takes."""
        return None

    @staticmethod
    def evaluate(compiled: Compiled, ctx: RunContext) -> Any:
        try:
            return compiled.evaluate(ctx.values)
        except ExpressionLimit as exc:
            raise NodeError("resource_limit", f"{exc} (in: {clip(compiled.source)})") from None
        except ExpressionError as exc:
            raise NodeError("expression_error", f"{exc} (in: {clip(compiled.source)})") from None


def as_text(value: Any) -> str:
    """How a non-string value reads where text is needed: JSON for structures."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
