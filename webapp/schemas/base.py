"""The pieces every body schema is made of, and the one way a body is validated.

A request body is a pydantic model (``Body``): strict types (no coercion but a whole
number for an integer), unknown keys refused; validating it yields the values or a
``ValidationFailed`` whose details each carry ``path``, ``code`` and ``message``, as the
error envelope promises. A response body is a ``TypedDict`` (``Answer``): building one is
building a plain dict, so answering costs nothing more than before, and its JSON Schema
(strict: every key required, no other key) is what the OpenAPI document shows.
Query strings are models too (``Query``), read leniently from text.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any, TypeVar, Union, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
)
from pydantic.json_schema import GenerateJsonSchema
from typing_extensions import TypedDict

from ..engine.errors import Problem
from ..errors import BadRequest, ValidationFailed

NOT_BLANK = r"\S"  # at least one non-space character
ANSWER = ConfigDict(extra="forbid", strict=True)  # strict: a part an answer shares with a body (a price)
Model = TypeVar("Model", bound=BaseModel)


class Body(BaseModel):
    """A request body: strict JSON types, every key known."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    def given(self, *, without: frozenset[str] = frozenset()) -> dict:
        """The fields the client sent (a PATCH changes only these), as plain values."""
        return {key: getattr(self, key) for key in self.model_fields_set if key not in without}


class Query(BaseModel):
    """A query string: values arrive as text; ``?limit=`` counts as left out."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class PageQuery(Query):
    """``limit`` 1–100 (default 20) and ``offset`` ≥ 0: every listing pages the same way."""

    limit: Annotated[int, Field(ge=1, le=100)] = Field(20, description="Page size, 1–100.")
    # Below every database's integer range for OFFSET.
    offset: Annotated[int, Field(ge=0, le=1_000_000_000)] = Field(0, description="How many items to skip.")


def parse(kind: Any, data: Any, message: str = "Request body is invalid", *, status: int = 422) -> Any:
    """``data`` as ``kind`` (a ``Body``, or a choice of them), or 422 (or ``status``: 400
    where a body that misses its shape is malformed, not invalid) listing every problem."""
    try:
        return adapter(kind).validate_python(data)
    except ValidationError as exc:
        refusal = BadRequest if status == 400 else ValidationFailed
        raise refusal(message, problems(exc)) from None


def parse_query(model: type[Model], args) -> Model:
    """The query string as ``model``, or 400 (a query string is not a body: it is malformed)."""
    values = {key: value for key, value in args.items() if value != ""}
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        first = problems(exc)[0]
        raise BadRequest(f"'{first.path}' {first.message}") from None


_TAGS: set[str] = set()  # the names of one_of's choices: not part of a problem's path


def one_of(choose: Callable[[Any], str], **choices: Any) -> Any:
    """One of several bodies, picked by ``choose`` (so a problem is told against the one
    the client meant, not against each)."""
    _TAGS.update(choices)
    members = tuple(Annotated[kind, Tag(name)] for name, kind in choices.items())
    return Annotated[Union[members], Discriminator(choose)]  # noqa: UP007


def by_field(key: str, *models: type[BaseModel]) -> Any:
    """One of ``models``, told apart by the value of their ``key`` (a ``Literal`` each)."""
    _TAGS.update(get_args(model.model_fields[key].annotation)[0] for model in models)
    return Annotated[Union[models], Field(discriminator=key)]  # noqa: UP007


def problems(exc: ValidationError) -> list[Problem]:
    return [_problem(error) for error in exc.errors(include_url=False)]


def _problem(error: dict) -> Problem:
    loc = [part for part in error["loc"] if part not in _TAGS]
    path = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")
    name = path or "the body"
    kind = error["type"]
    if kind.startswith("union_tag_"):  # the field that tells the choices apart is missing or unknown
        key = str(error.get("ctx", {}).get("discriminator", "")).strip("'")
        allowed = str(error.get("ctx", {}).get("expected_tags", "")).replace("'", "")
        where = f"{path}.{key}" if path else key  # a choice inside a list: ``checks[2].kind``
        if kind == "union_tag_not_found":
            return Problem(where, "missing_field", f"'{where}' is required")
        return Problem(where, "invalid_value", f"'{where}' must be one of {allowed}")
    if kind == "missing":
        return Problem(path, "missing_field", f"'{name}' is required")
    if kind == "extra_forbidden":
        return Problem(path, "unknown_field", f"unknown field '{name}'")
    message = error["msg"]
    return Problem(path, "invalid_value", f"'{name}': {message[:1].lower()}{message[1:]}")


# -- types ----------------------------------------------------------------------------------


def _whole_number(value: Any) -> Any:
    """JSON has one number type: 3.0 is the integer 3 (as JSON Schema says too)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def integer(**bounds: Any) -> Any:
    """An integer (a whole-number float counts), with ``ge``/``le`` bounds."""
    return Annotated[int, Field(**bounds), BeforeValidator(_whole_number)]


def number(**bounds: Any) -> Any:
    """A number kept as sent (an int stays an int), with ``ge``/``le`` bounds."""
    schema: dict[str, Any] = {"type": "number"}
    schema |= {{"ge": "minimum", "le": "maximum"}[key]: value for key, value in bounds.items()}
    return Annotated[int | float, Field(**bounds), WithJsonSchema(schema)]


def text(**bounds: Any) -> Any:
    return Annotated[str, Field(**bounds)]


def prefixed_id(prefix: str) -> Any:
    """Ids are ``<prefix>_`` and 26 time-ordered lower-case Crockford characters."""
    return Annotated[
        str, Field(pattern=f"^{prefix}_[0-9a-z]{{26}}$", examples=[f"{prefix}_01jc7m2kq3x8v4n5p6r7s8t9wa"])
    ]


# ISO 8601 UTC with milliseconds and ``Z``, every time the API writes (models.isoformat).
Timestamp = Annotated[
    str,
    Field(
        json_schema_extra={"format": "date-time", "examples": ["2025-01-31T09:30:00.123Z"]},
        pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$",
    ),
]
Count = Annotated[int, Field(ge=0)]
JsonObject = dict[str, Any]


REF_PREFIX = "#/components/schemas/"
EXTERNAL: set[str] = set()  # components the document builds itself, not from Python types


def closed(values: type[StrEnum]) -> Any:
    """A closed set (an enum of ``engine.status``), written out where it is used."""
    return Annotated[values, WithJsonSchema({"type": "string", "enum": [member.value for member in values]})]


def component(name: str) -> WithJsonSchema:
    """A field documented by a component the document builds itself (from the node
    catalogue or the deployment's settings), not by its Python type."""
    EXTERNAL.add(name)
    return WithJsonSchema({"$ref": REF_PREFIX + name})


def described(description: str, **extra: Any) -> Any:
    """Any JSON value, documented by words alone."""
    return Annotated[Any, WithJsonSchema({"description": description, **extra})]


class Page(TypedDict):
    """The frame of every listing: the total across pages, and whether more follow."""

    total: Count
    has_more: bool


# -- JSON Schema -------------------------------------------------------------------------------


class OpenApiSchema(GenerateJsonSchema):
    """JSON Schema 2020-12 as OpenAPI 3.1 uses it, written the way people read it:
    ``"type": ["string", "null"]`` for a nullable value, no generated titles."""

    def field_title_should_be_set(self, schema) -> bool:
        return False

    def nullable_schema(self, schema) -> dict:
        inner = self.generate_inner(schema["schema"])
        kind = inner.get("type")
        if "$ref" in inner or not isinstance(kind, (str, list)):
            return {"anyOf": [inner, {"type": "null"}]} if inner else inner
        inner = dict(inner)
        inner["type"] = [*kind, "null"] if isinstance(kind, list) else [kind, "null"]
        if "enum" in inner:
            inner["enum"] = [*inner["enum"], None]
        return inner

    def handle_ref_overrides(self, json_schema: dict) -> dict:
        """A ``$ref`` to a component the document adds itself (``component()``) is
        not among pydantic's own definitions: keep it, with its siblings, as written."""
        if json_schema.get("$ref", "").removeprefix(REF_PREFIX) in EXTERNAL:
            return json_schema
        return super().handle_ref_overrides(json_schema)

    def default_schema(self, schema) -> dict:
        found = super().default_schema(schema)
        if found.get("default", False) is None:
            found.pop("default")  # "left out" reads better than a default of null
        return found

    def typed_dict_schema(self, schema) -> dict:
        found = super().typed_dict_schema(schema)
        found.pop("title", None)
        return found

    def model_schema(self, schema) -> dict:
        found = super().model_schema(schema)
        found.pop("title", None)
        return found


REF_TEMPLATE = REF_PREFIX + "{model}"


@functools.cache
def adapter(kind: Any) -> TypeAdapter:
    return TypeAdapter(kind)


def json_schemas(kinds: list[tuple[Any, str]]) -> tuple[dict[tuple[Any, str], dict], dict[str, dict]]:
    """The schema of each ``(type, mode)`` (a ``$ref`` for a named one) and every named
    schema they use, for ``components.schemas``: one generator for all, so a type used
    by two bodies is one component."""
    generator = OpenApiSchema(ref_template=REF_TEMPLATE)
    inputs = [(kind, mode, adapter(kind).core_schema) for kind, mode in kinds]
    found, components = generator.generate_definitions(inputs)
    parts = {name: schema for name, schema in components.items() if name.endswith("Part")}
    parts = {name: _inline(schema, parts) for name, schema in parts.items()}
    components = {name: _inline(schema, parts) for name, schema in components.items() if name not in parts}
    return {key: _inline(schema, parts) for key, schema in found.items()}, components


def _inline(schema: Any, parts: dict[str, dict]) -> Any:
    """Each part (a type named ``…Part``: a shape only one body has, such as the
    envelope's ``error``) written where it is used, not as a component of its own."""
    if isinstance(schema, list):
        return [_inline(item, parts) for item in schema]
    if not isinstance(schema, dict):
        return schema
    name = schema.get("$ref", "").removeprefix(REF_PREFIX)
    if name in parts:
        return {**parts[name], **{key: value for key, value in schema.items() if key != "$ref"}}
    return {key: _inline(value, parts) for key, value in schema.items()}
