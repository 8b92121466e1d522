"""The expression sandbox: typed values, strict names, and attacks that end as errors, fast."""

from __future__ import annotations

import time

import pytest
from jinja2.exceptions import TemplateSyntaxError

from webapp.engine.expressions import ExpressionError, Expressions

EXPRESSIONS = Expressions(max_chars=10_000)
VALUES = {"draft": {"text": "hello world", "json": {"score": 7}}, "in": {"items": [1, 2, 3]}, "skipped": None}


def render(source: str, values=None):
    return EXPRESSIONS.template(source).evaluate(VALUES if values is None else values)


def condition(source: str, values=None):
    return EXPRESSIONS.condition(source).evaluate(VALUES if values is None else values)


def test_a_lone_expression_keeps_its_type():
    assert render("{{ in.items }}") == [1, 2, 3]
    assert render("{{ draft.json }}") == {"score": 7}
    assert render("{{ draft.json.score + 1 }}") == 8
    assert render("{{ draft.text | length > 3 }}") is True


def test_anything_else_renders_to_a_string():
    assert render("n={{ draft.json.score }}") == "n=7"
    assert render(" {{ in.items }}") == " [1, 2, 3]"
    assert render("{% for i in in.items %}{{ i }},{% endfor %}") == "1,2,3,"


def test_references_are_the_undeclared_names():
    compiled = EXPRESSIONS.template("{% set x = 1 %}{{ draft.text }} {{ x }} {{ range(2) | list }} {{ other.value }}")
    assert compiled.references == {"draft", "other"}
    assert EXPRESSIONS.condition("a.result and not b").references == {"a", "b"}


def test_undefined_names_and_fields_are_errors():
    with pytest.raises(ExpressionError):
        render("{{ missing }}")
    with pytest.raises(ExpressionError):
        render("{{ draft.nope }}")
    with pytest.raises(ExpressionError):
        render("text {{ draft.nope }}")


def test_a_skipped_node_is_present_and_falsy():
    assert render("{{ skipped.value if skipped else draft.text }}") == "hello world"
    assert render("[{{ skipped }}]") == "[]"
    with pytest.raises(ExpressionError):
        render("{{ skipped.value }}")


def test_default_guards_a_missing_json_field():
    assert render("{{ draft.json.rating | default(0) }}") == 0
    assert condition("(draft.json.rating | default(0)) > 5") is False


def test_conditions():
    assert condition("draft.text | length > 5") is True
    with pytest.raises(TemplateSyntaxError):
        EXPRESSIONS.condition("draft.text }} {{ 1")


@pytest.mark.parametrize(
    "source",
    [
        "{{ ().__class__.__bases__ }}",
        "{{ ().__class__.__bases__[0].__subclasses__() }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ '{0.__class__}'.format(draft) }}",
        "{{ draft | attr('__class__') }}",
        "{{ draft.text.__class__.__mro__ }}",
        "{{ lipsum.__globals__ }}",
        "{{ range.__self__ }}",
        "{{ namespace.__init__.__globals__ }}",
    ],
)
def test_escapes_fail_as_errors(source):
    try:
        result = render(source)
    except ExpressionError:
        return
    assert "class" not in str(result) and "function" not in str(result), result


@pytest.mark.parametrize(
    "source",
    [
        "{{ 'x' * 100000000 }}",
        "{{ [1] * 100000000 }}",
        "{{ 10 ** 1000000 }}",
        "{{ '%0999999999d' % 1 }}",
        "{{ '{:>999999999}'.format(1) }}",
        "{{ 'x'.center(999999999) }}",
        "{{ 'x'.ljust(999999999) }}",
        "{{ 'x' | center(999999999) }}",
        "{{ 'x\ty' .expandtabs(999999999) }}",
        "{{ 'aaaa' | replace('a', 'bbbbbbbbbb') | replace('b', 'cccccccccc') | replace('c', 'dddddddddd')"
        " | replace('d', 'eeeeeeeeee') }}",
        "{{ 'aaaa'.replace('a', 'bbbbbbbbbb').replace('b', 'cccccccccc').replace('c', 'dddddddddd')"
        ".replace('d', 'eeeeeeeeee') }}",
        "{{ range(10000000) | list }}",
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "{% for i in range(5000) %}{{ 'x' * 5000 }}{% endfor %}",
        "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
    ],
)
def test_resource_attacks_end_quickly_as_errors(source):
    started = time.monotonic()
    with pytest.raises(ExpressionError):
        render(source)
    assert time.monotonic() - started < 2, "a hostile template must fail fast"


def test_results_must_be_json_values():
    for not_data in ("{{ range }}", "{{ namespace }}", "{% macro m() %}{% endmacro %}{{ m }}", "{{ 'x'.encode() }}"):
        with pytest.raises(ExpressionError):
            render(not_data)
    # a lazy sequence is the list it stands for; a namespace, the object of its values
    assert render("{{ range(3) }}") == [0, 1, 2]
    assert render("{{ namespace(a=1) }}") == {"a": 1}
