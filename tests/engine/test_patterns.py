"""Users' regular expressions: static bounds before anything compiles them, and
compiling and matching only in a sandbox process (``engine/patterns.py``)."""

from __future__ import annotations

import time

import pytest

from tests.engine.test_nodes import process
from webapp.engine import patterns, runner
from webapp.engine.definition import parse_definition
from webapp.engine.errors import DefinitionError
from webapp.engine.expressions import Expressions
from webapp.engine.isolation import Bounds, SandboxPool
from webapp.engine.patterns import BOUNDS, PatternError, PatternTooLarge, check

EXPRESSIONS = Expressions()
BOMBS = [
    "(?:(?:a{100}){100}){300}",  # the issue's: 791 MB in the web process at validation
    "(?:a{65535}){65535}",  # 21 GB in 60 s
    "(?:a{1000}){1000}",  # 250 MB and 2 s to compile
    "(?:(?:ab|cd){100}){100}",  # every branch is built
    "(?x)(?:a{100})  {200}",  # verbose: the count repeats the group, past the spaces
    # Read every way a flag the reader cannot place for sure allows, the heaviest kept: an
    # escaped "(?V1)" (a set in a set, to a version-1 reading, would hide what follows) and
    # an escaped "(?x)" (so is a comment, to a verbose reading).
    r"\(?V1\)[[](?:a{1000}){1000}]",
    "\\(?x\\)#[\n(?:a{1000}){1000}]",
    "(?:(?:[ab]x){100}){100}",
    "a" * (BOUNDS.max_chars + 1),
    "(" * (BOUNDS.max_depth + 1) + ")" * (BOUNDS.max_depth + 1),
]


def regex_node(pattern: str, text_template: str = "{{ in.text }}") -> dict:
    fields = [{"name": "text", "type": "string"}]
    return {
        "nodes": [
            {"id": "in", "type": "input", "config": {"fields": fields}},
            {
                "id": "find",
                "type": "processing",
                "config": {"operation": "regex_extract", "input": text_template, "pattern": pattern},
            },
            {"id": "out", "type": "output", "config": {"template": "{{ find.value }}"}},
        ],
        "connections": [{"from": "in", "to": "find"}, {"from": "find", "to": "out"}],
    }


@pytest.fixture(autouse=True)
def _nothing_compiled_yet():
    patterns.compiled.cache_clear()  # engine tests without a sandbox compile in this process


@pytest.mark.parametrize("pattern", BOMBS)
def test_a_pattern_past_the_bounds_is_refused_without_compiling(pattern):
    started = time.process_time()
    with pytest.raises(PatternTooLarge):
        check(pattern)
    with pytest.raises(DefinitionError) as refused:
        parse_definition(regex_node(pattern), EXPRESSIONS)
    assert time.process_time() - started < 0.5  # read as text, never expanded
    (problem,) = refused.value.problems
    assert (problem.path, problem.code) == ("nodes[1].config.pattern", "invalid_value")
    assert patterns.compiled.cache_info().currsize == 0  # nothing compiled in this process


@pytest.mark.parametrize(
    ("pattern", "weight"),
    [
        (r"#(\d+)", 2),
        (r"(?P<id>\d+)", 6),  # the group's prefix counts too: more, never less
        (r"\d{3}-\d{4}", 8),
        ("(?:a|b){1000}", 3000),
        (r"[]a]{5}", 5),  # a ] right after [ is in the set
        (r"[[:alpha:]x]{3}", 3),
        (r"(?V1)[[a-z]--[aeiou]]{3}", 9),  # sets in sets, read both ways: the heavier kept
        (r"\p{L}{3}", 3),  # the braces are the escape's, not a count
        (r"a{,}", 1),
        ("(?x) a # a comment may hold ( or [\n b", 3),  # verbose: comments and spaces are nothing
    ],
)
def test_ordinary_patterns_pass_with_the_weight_compiling_would_build(pattern, weight):
    assert check(pattern) == weight


@pytest.mark.parametrize("pattern", ["(", ")", "[abc", "a{5,3}", "a\\"])
def test_a_broken_pattern_is_a_syntax_error_where_it_is_written(pattern):
    with pytest.raises(PatternError) as refused:
        check(pattern)
    assert not isinstance(refused.value, PatternTooLarge)
    with pytest.raises(DefinitionError) as invalid:
        parse_definition(regex_node(pattern), EXPRESSIONS)
    assert [(p.path, p.code) for p in invalid.value.problems] == [("nodes[1].config.pattern", "syntax_error")]


def test_a_regex_step_always_runs_in_a_sandbox_even_when_its_input_only_looks_up():
    graph = parse_definition(regex_node(r"#(\d+)"), EXPRESSIONS)
    assert graph.nodes["find"].impl.isolated is True


@pytest.fixture
def pool():
    sandboxes = SandboxPool(
        1, Bounds(memory_bytes=64 * 2**20, step_timeout=10, max_chars=200_000, max_output_bytes=2**20)
    )
    yield sandboxes
    sandboxes.close()


@pytest.mark.parametrize(
    "pattern",
    [
        "(?:a{100}){99}",  # the most one nest may repeat
        "(?fi)(?:ß{100}){98}",  # full case folding: ß is ss, twice the code
        "(?:(a){100}){99}",  # a capture per copy
        "a{1000}b{1000}c{1000}" * 3,
    ],
)
def test_a_pattern_at_the_bounds_compiles_and_matches_in_a_sandbox_of_64_mb(pool, pattern):
    check(pattern)
    result = runner.run(parse_definition(regex_node(pattern), EXPRESSIONS), {"text": "b" * 50}, isolation=pool)
    assert result.status == "completed", result.error
    assert result.outputs == {"out": None}
    assert patterns.compiled.cache_info().currsize == 0  # compiled there, not here


def test_a_pattern_that_backtracks_forever_fails_at_its_timeout(pool):
    graph = parse_definition(regex_node("(a|aa)+$"), EXPRESSIONS)
    pool.warm()  # the time below is the step's, not the sandbox's start
    started = time.monotonic()
    result = runner.run(graph, {"text": "a" * 60 + "b"}, isolation=pool)
    assert time.monotonic() - started < patterns.MATCH_TIMEOUT + 5
    assert result.records["find"].error["code"] == "regex_timeout"


def test_a_syntax_error_the_static_reader_cannot_see_fails_the_step_clearly(pool):
    graph = parse_definition(regex_node(r"a**"), EXPRESSIONS)
    result = runner.run(graph, {"text": "aaa"}, isolation=pool)
    error = result.records["find"].error
    assert error["code"] == "invalid_value" and "multiple repeat" in error["message"]


def test_groups_by_number_and_name_still_work():
    assert process("regex_extract", "order #1234 shipped", pattern=r"#(\d+)", group=1) == "1234"
    assert process("regex_extract", "order #1234", pattern=r"#(?P<id>\d+)", group="id") == "1234"
