"""Check bodies: what a test case asserts about one of its execution's outputs.

Each kind is one model, the one description of itself: its fields with their bounds and
descriptions, its ``label`` and its help (the docstring's first paragraph). The API
validates a case's ``checks`` with ``Check``, the OpenAPI document shows it, and the
Tests tab's add-check form is drawn from ``KINDS`` and the models' fields. Scoring is
``webapp/evaluations/checks.py``; a check reaches it as ``stored(check)``, a plain dict.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BeforeValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from ..engine.bounds import json_size
from ..engine.errors import NodeError
from ..engine.patterns import BOUNDS as PATTERN_BOUNDS
from ..engine.patterns import pattern_problem
from ..evaluations.json_schemas import schema_problem
from ..evaluations.kinds import CheckKind
from .base import NOT_BLANK, Body, JsonObject, by_field, integer, number
from .providers import NAME_MAX as PROVIDER_NAME_MAX

MAX_CHECKS_PER_CASE = 50
OUTPUT_NAME_MAX = 64  # characters of an output's name
TEXT_MAX = 10_000  # characters a contains / not_contains check looks for
VALUE_MAX_BYTES = 64 * 1024  # an equals check's value, as JSON
SCHEMA_MAX_BYTES = 64 * 1024  # a json_schema check's schema, as JSON
CRITERIA_MAX = 2_000  # characters of a judge's criteria
MODEL_NAME_MAX = 200  # characters of a judge's model name
LENGTH_MAX = 1_000_000_000  # the largest max_length
PATTERN_MAX = PATTERN_BOUNDS.max_chars


def _invalid(message: str) -> PydanticCustomError:
    return PydanticCustomError("invalid_value", message)


def _json_within(limit: int, noun: str) -> AfterValidator:
    """A JSON value of at most ``limit`` bytes as JSON, as the rest of a run measures it."""

    def within(value: Any) -> Any:
        try:
            size = json_size(value)
        except NodeError as exc:
            raise _invalid(f"{noun} is not JSON: {exc.message}") from None
        if size > limit:
            raise _invalid(f"{noun} is {size:,} bytes as JSON; the limit is {limit:,}")
        return value

    return AfterValidator(within)


def _bounded_pattern(source: str) -> str:
    problem = pattern_problem(source)
    if problem is not None:
        raise _invalid(f"invalid regular expression: {problem}")
    return source


def _usable_schema(schema: dict) -> dict:
    problem = schema_problem(schema)
    if problem is not None:
        raise _invalid(problem)
    return schema


OutputName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=OUTPUT_NAME_MAX,
        description="The name of one of the execution's outputs: the value this check looks at.",
        examples=["answer"],
    ),
]


def _finite_number(value: Any) -> Any:
    """One problem for a value that is not a number (not one per member of int | float)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _invalid("must be a finite number")
    return value


FiniteNumber = Annotated[number(), BeforeValidator(_finite_number)]  # an int stays an int


class CheckBody(Body):
    """What every check has: the output it looks at. ``label`` names the kind in the UI."""

    label: ClassVar[str]
    output: OutputName


class EqualsCheck(CheckBody):
    """The output equals the value, as JSON: 1 equals 1.0, but "1" is not 1."""

    label: ClassVar[str] = "Equals"
    kind: Literal[CheckKind.EQUALS.value]  # type: ignore[valid-type]
    value: Annotated[Any, _json_within(VALUE_MAX_BYTES, "the value")] = Field(
        description=f"Any JSON value; at most {VALUE_MAX_BYTES:,} bytes as JSON.", examples=["Paris"]
    )


class ContainsCheck(CheckBody):
    """The output, as text, contains the value (case matters). An output that is not a
    string is read as compact JSON."""

    label: ClassVar[str] = "Contains"
    kind: Literal[CheckKind.CONTAINS.value]  # type: ignore[valid-type]
    value: Annotated[str, Field(min_length=1, max_length=TEXT_MAX)] = Field(
        description=f"The text to find, 1–{TEXT_MAX:,} characters.", examples=["Paris"]
    )


class NotContainsCheck(CheckBody):
    """The output, as text, does not contain the value (case matters). An output that is
    not a string is read as compact JSON."""

    label: ClassVar[str] = "Does not contain"
    kind: Literal[CheckKind.NOT_CONTAINS.value]  # type: ignore[valid-type]
    value: Annotated[str, Field(min_length=1, max_length=TEXT_MAX)] = Field(
        description=f"The text that must not be there, 1–{TEXT_MAX:,} characters.", examples=["I cannot"]
    )


class MatchesCheck(CheckBody):
    """The regular expression finds a match somewhere in the output, as text (anchor it
    with ^ and $ to match the whole). A search that takes longer than a second gives no
    verdict."""

    label: ClassVar[str] = "Matches a pattern"
    kind: Literal[CheckKind.MATCHES.value]  # type: ignore[valid-type]
    pattern: Annotated[str, Field(min_length=1, max_length=PATTERN_MAX), AfterValidator(_bounded_pattern)] = Field(
        description=(
            f"A regular expression (Python's regex syntax), 1–{PATTERN_MAX:,} characters, counts in "
            f"{{m,n}} at most {PATTERN_BOUNDS.max_repeat:,}, groups nested at most {PATTERN_BOUNDS.max_depth} "
            "deep, and no more repetition than the server compiles."
        ),
        examples=[r"^\d{4}-\d{2}-\d{2}$"],
    )


class JsonSchemaCheck(CheckBody):
    """The output conforms to the JSON Schema (draft 2020-12 unless its $schema names
    another). Its patterns are held to the same bounds as a matches check's; a $ref
    reaches only inside the schema."""

    label: ClassVar[str] = "Conforms to a JSON Schema"
    kind: Literal[CheckKind.JSON_SCHEMA.value]  # type: ignore[valid-type]
    schema_: Annotated[JsonObject, _json_within(SCHEMA_MAX_BYTES, "the schema"), AfterValidator(_usable_schema)] = (
        Field(
            alias="schema",
            description=f"A JSON Schema object; at most {SCHEMA_MAX_BYTES:,} bytes as JSON.",
            examples=[{"type": "object", "required": ["city"]}],
        )
    )


class BetweenCheck(CheckBody):
    """The output is a number (or text that reads as one) within the bounds, both
    included. At least one of min and max."""

    label: ClassVar[str] = "Number between"
    kind: Literal[CheckKind.BETWEEN.value]  # type: ignore[valid-type]
    model_config = {"json_schema_extra": {"anyOf": [{"required": ["min"]}, {"required": ["max"]}]}}
    min: FiniteNumber = Field(None, description="The smallest value that passes.")  # type: ignore[assignment]
    max: FiniteNumber = Field(None, description="The largest value that passes.")  # type: ignore[assignment]

    @model_validator(mode="after")
    def _bounds(self) -> BetweenCheck:
        if self.min is None and self.max is None:
            raise _invalid("give 'min', 'max' or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise _invalid(f"'min' ({self.min}) is more than 'max' ({self.max})")
        return self


class MaxLengthCheck(CheckBody):
    """The output is at most this long: characters of a string, items of a list, the
    characters of anything else as compact JSON."""

    label: ClassVar[str] = "At most this long"
    kind: Literal[CheckKind.MAX_LENGTH.value]  # type: ignore[valid-type]
    value: integer(ge=0, le=LENGTH_MAX) = Field(description="The longest that passes.", examples=[280])


class JudgeCheck(CheckBody):
    """An AI model reads the output and the criteria and passes or fails it, with a
    one-line reason. Its tokens and cost count in the test run's usage."""

    label: ClassVar[str] = "AI judge"
    kind: Literal[CheckKind.JUDGE.value]  # type: ignore[valid-type]
    criteria: Annotated[str, Field(min_length=1, max_length=CRITERIA_MAX, pattern=NOT_BLANK)] = Field(
        description=f"What a passing output does, in a sentence or a few; 1–{CRITERIA_MAX:,} characters.",
        examples=["The answer names the capital of France and nothing else."],
    )
    model: Annotated[str, Field(min_length=1, max_length=MODEL_NAME_MAX, pattern=NOT_BLANK)] | None = Field(
        None, description="The judging model; left out, the deployment's default model."
    )
    provider: Annotated[str, Field(min_length=1, max_length=PROVIDER_NAME_MAX)] | None = Field(
        None, description="One of your model providers, by name; left out, the server's."
    )


CHECK_MODELS: tuple[type[CheckBody], ...] = (
    EqualsCheck,
    ContainsCheck,
    NotContainsCheck,
    MatchesCheck,
    JsonSchemaCheck,
    BetweenCheck,
    MaxLengthCheck,
    JudgeCheck,
)
Check = by_field("kind", *CHECK_MODELS)
Checks = Annotated[list[Check], Field(max_length=MAX_CHECKS_PER_CASE)]


def _help(model: type[CheckBody]) -> str:
    return " ".join((model.__doc__ or "").split("\n\n")[0].split())


# kind → (label, one-line help), in the order the add-check form lists them.
KINDS: dict[str, tuple[str, str]] = {
    model.model_fields["kind"].annotation.__args__[0]: (model.label, _help(model)) for model in CHECK_MODELS
}
MODEL_OF_KIND: dict[str, type[CheckBody]] = {kind: model for kind, model in zip(KINDS, CHECK_MODELS, strict=True)}


def stored(check: CheckBody) -> dict:
    """The check as a plain dict, as it is stored and scored: its fields by their JSON
    names, optional ones left out when not given."""
    return check.model_dump(by_alias=True, exclude_unset=True, mode="json")
