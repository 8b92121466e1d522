"""The rules past a body's schema that can refuse it, named once for the document."""

from __future__ import annotations

from .contract import Refusal

DEFINITION = (
    Refusal("duplicate_id", "two nodes share an id"),
    Refusal("unknown_node", "a connection names a node the definition does not hold"),
    Refusal("cycle", "the connections make a cycle"),
    Refusal(
        "bad_branch",
        "a connection's branch is not one its source may take: 'true'/'false' only (and always) from a "
        "conditional, 'error' only from a node whose on_error is 'branch'",
    ),
    Refusal("bad_reference", "a template or condition refers to a node that is not upstream of it"),
    Refusal("syntax_error", "a template or condition is not valid Jinja2"),
    Refusal(
        "missing_field",
        "the graph has no output node or more than one input node, or a node lacks an option its "
        "variant needs (an output's fields or template, a processing step's input)",
    ),
    Refusal(
        "invalid_value",
        "a node sets an option its variant does not read, or a value its type refuses past the schema "
        "(an address that is not http or https, a regular expression past its bounds, an empty template); "
        "or the definition is past MAX_DEFINITION_BYTES or MAX_EXPRESSIONS",
    ),
)
INPUTS = (
    Refusal("missing_field", "an input the workflow's input node requires is missing"),
    Refusal("unknown_field", "an input the workflow's input node does not declare"),
    Refusal("invalid_value", "an input of the wrong type or past its bounds, or inputs past MAX_INPUT_BYTES"),
)
SCHEDULE = (
    Refusal("missing_field", "a schedule ends up with neither or both of cron and interval_seconds"),
    Refusal("invalid_value", "a cron that is not valid, or a timezone that is not an IANA zone"),
    *INPUTS,
)
