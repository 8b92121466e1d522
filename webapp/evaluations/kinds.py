"""The kinds of check a test case may hold: one closed set, named once."""

from __future__ import annotations

from enum import StrEnum


class CheckKind(StrEnum):
    EQUALS = "equals"
    CONTAINS = "contains"
    NOT_CONTAINS = "not_contains"
    MATCHES = "matches"
    JSON_SCHEMA = "json_schema"
    BETWEEN = "between"
    MAX_LENGTH = "max_length"
    JUDGE = "judge"


JUDGED = frozenset({CheckKind.JUDGE})  # scored by a model call, in the worker; the rest in a sandbox
