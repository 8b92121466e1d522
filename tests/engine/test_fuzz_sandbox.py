"""Hypothesis against the expression sandbox, with a grammar full of attack fragments.

Every generated template or condition must either fail to compile with a
TemplateSyntaxError, or evaluate to a JSON value, or raise ExpressionError — never
anything else, never a glimpse of Python internals, and never slowly (2 s is a
generous bound: a safety property, not a benchmark). Bounded and reproducible.

The attacks fuzzing found are pinned as regression tests at the bottom.
"""

from __future__ import annotations

import contextlib
import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jinja2.exceptions import TemplateSyntaxError

from webapp.engine.expressions import ExpressionError, Expressions

SANDBOX = Expressions(max_chars=2_000)
VALUES = {"a": {"text": "hello world", "items": [1, 2, 3], "n": 7, "json": {"k": "v"}}, "b": None}
# What a Python object's repr shows: its class, its kind, its address (issue 31: generators,
# loop state, macros, namespaces, dict views and ranges showed all three).
LEAKS = (
    "<class",
    "function",
    "module",
    "built-in",
    "object at 0x",
    "<generator",
    "LoopContext",
    "<Macro",
    "Namespace",
    "TemplateReference",
    "dict_",
    "iterator",
    "range(",
)
TIME_LIMIT = 2.0
FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

# -- the grammar -------------------------------------------------------------------------------

NUMBERS = [
    "0",
    "1",
    "2",
    "3",
    "7",
    "-1",
    "64",
    "1000",
    "100000",
    "10 ** 6",
    "999999999",
    "10 ** 12",
    "10 ** 18",
    "99999",
    "0.5",
    "2.5",
]
STRINGS = [
    "'x'",
    "'ab'",
    "''",
    "' a b '",
    "'%s'",
    "'%d'",
    "'%999999999d'",
    "'%-999999999s'",
    "'%.999999999f'",
    "'{}'",
    "'{0}'",
    "'{:>999999999}'",
    "'{0.__class__}'",
    "'{0.__globals__}'",
    "'{.__class__.__mro__}'",
    "'%(a)s'",
    "'\\t'",
    "'<b>'",
    "'{{ 1 }}'",
    "'a,b,c'",
    "'%*d'",
    "'%.*f'",
    "'{0:{1}}'",
    "'{:{w}}'",
]
NAMES = [
    "a",
    "a.text",
    "a.items",
    "a.n",
    "a.json",
    "a['text']",
    "a.json.k",
    "b",
    "self",
    "request",
    "config",
    "lipsum",
    "cycler",
    "joiner",
    "namespace",
    "range",
    "dict",
    "loop",
    "undefined_name",
    "true",
    "none",
]
ATTRIBUTES = [
    ".__class__",
    ".__globals__",
    ".__subclasses__()",
    ".mro()",
    ".__mro__",
    ".__init__",
    ".__dict__",
    ".__base__",
    ".__bases__",
    ".__builtins__",
    ".__self__",
    ".__func__",
    ".__code__",
    ".gi_frame",
    ".f_globals",
    "['__class__']",
    "['__globals__']",
    ".format",
    ".format_map({})",
    ".__doc__",
    ".__module__",
    ".__name__",
    ".__reduce__()",
    ".__getattribute__('__class__')",
    ".keys()",
    ".items()",
    ".values()",
    ".upper()",
    ".split()",
    ".append(1)",
    ".update({})",
    ".pop()",
]
CALLS = [
    "range({})",
    "range({})|list",
    "namespace(x={})",
    "dict(a={})",
    "cycler({}, 1)",
    "lipsum({})",
    "joiner({})",
    "({}).center(999999999)",
    "({}).center({})",
    "({}).ljust({})",
    "({}).zfill({})",
    "({}).rjust({})",
    "({}).expandtabs({})",
    "({}).replace('x', 'xxxxxxxxxx')",
    "({}).replace('', '--')",
    "', '.join({})",
    "({}).format(1, 2)",
    "({}).format_map(dict(a={}))",
    "({}) % ({})",
    "({}) % (1, 2)",
    "({}) % ({}, 1)",
    "({}).format(1, {})",
    "({}).format(1, w={})",
    "range({}) | join('x' * 1000)",
    "({}) | list | join({})",
    "({}).join(range({}))",
]
FILTERS = [
    "center(999999999)",
    "center({})",
    "format({})",
    "format(999999999)",
    "replace('x', 'yyyyy')",
    "replace('', '-')",
    "join(', ')",
    "join",
    "list",
    "string",
    "length",
    "first",
    "last",
    "sum",
    "sort",
    "unique",
    "reverse",
    "batch(3)",
    "slice(2)",
    "int",
    "float",
    "abs",
    "round",
    "trim",
    "upper",
    "title",
    "count",
    "wordcount",
    "wordwrap({})",
    "truncate({})",
    "indent({})",
    "indent(999999999)",
    "tojson",
    "attr('__class__')",
    "attr('__globals__')",
    "attr('mro')",
    "attr('format')",
    "map('attr', '__class__')",
    "map('upper')",
    "map('string')",
    "select",
    "reject",
    "selectattr('__class__')",
    "groupby('__class__')",
    "dictsort",
    "items",
    "xmlattr",
    "urlize",
    "striptags",
    "escape",
    "safe",
    "default('d')",
    "min",
    "max",
    "filesizeformat",
    "urlencode",
    "pprint",
]
BINARY = ["*", "**", "%", "+", "-", "//", "/", "~", "and", "or", "==", "<", "in", "not in", "is", "is not"]
TESTS = ["defined", "none", "string", "number", "callable", "iterable", "mapping", "sameas(a)", "divisibleby(3)"]

atoms = st.sampled_from(NUMBERS) | st.sampled_from(STRINGS) | st.sampled_from(NAMES)


def _extend(inner):
    def fill(pattern: str, values: list[str]) -> str:
        return pattern.format(*values[: pattern.count("{}")])

    return st.one_of(
        st.tuples(inner, st.sampled_from(BINARY), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(inner, st.sampled_from(ATTRIBUTES)).map(lambda t: f"({t[0]}){t[1]}"),
        st.tuples(inner, st.sampled_from(FILTERS), st.lists(inner, min_size=1, max_size=1)).map(
            lambda t: f"({t[0]})|{fill(t[1], t[2])}"
        ),
        st.tuples(st.sampled_from(CALLS), st.lists(inner, min_size=2, max_size=2)).map(lambda t: fill(t[0], t[1])),
        st.tuples(inner, st.sampled_from(TESTS)).map(lambda t: f"({t[0]}) is {t[1]}"),
        inner.map(lambda c: f"not ({c})"),
        inner.map(lambda c: f"-({c})"),
        st.lists(inner, max_size=3).map(lambda cs: "[" + ", ".join(cs) + "]"),
        st.lists(inner, max_size=2).map(lambda cs: "(" + "".join(f"{c}, " for c in cs) + ")"),
        st.tuples(inner, inner).map(lambda t: f"{{'k': {t[0]}, {t[1]}: 1}}"),
        st.tuples(inner, inner, inner).map(lambda t: f"({t[0]} if {t[1]} else {t[2]})"),
        st.tuples(inner, inner).map(lambda t: f"({t[0]})[{t[1]}]"),
        st.tuples(inner, inner).map(lambda t: f"({t[0]})[{t[1]}:]"),
    )


expressions = st.recursive(atoms, _extend, max_leaves=8)
LOOP_BOUNDS = st.sampled_from(["3", "100", "10000", "100000", "a.n", "a.items"])


def _template_forms(expr: str, other: str, bound: str, inner_bound: str) -> list[str]:
    return [
        f"{{{{ {expr} }}}}",  # a lone expression keeps its type
        f"x{{{{ {expr} }}}}y",  # anything else renders to text
        f"{{% for i in range({bound}) if i is number %}}{{{{ {expr} }}}}{{% endfor %}}",
        f"{{% for i in range({bound}) %}}{{% for j in range({inner_bound}) %}}{{{{ {expr} }}}}{{% endfor %}}"
        f"{{% endfor %}}",
        f"{{% for x in {expr} %}}{{{{ x }}}}{{{{ loop.index }}}}{{% else %}}none{{% endfor %}}",
        f"{{% set v = {expr} %}}{{{{ v }}}}{{{{ {other} }}}}",
        f"{{% if {expr} %}}yes{{% elif {other} %}}maybe{{% else %}}no{{% endif %}}",
        f"{{% set ns = namespace(v='a') %}}{{% for i in range({bound}) %}}{{% set ns.v = ns.v + ns.v %}}"
        f"{{% endfor %}}{{{{ ns.v | length }}}}",
        f"{{% set ns = namespace(v={expr}) %}}{{% for i in range({bound}) %}}{{% set ns.v = ns.v ~ ns.v %}}"
        f"{{% endfor %}}{{{{ ns.v | length }}}}",
        f"{{% set ns = namespace(v=3) %}}{{% for i in range({bound}) %}}{{% set ns.v = ns.v * ns.v %}}"
        f"{{% endfor %}}{{{{ ns.v > 1 }}}}",
        f"{{% macro m(p) %}}{{{{ p }}}}{{{{ {expr} }}}}{{% endmacro %}}{{{{ m({other}) }}}}",
        f"{{% filter upper %}}{{{{ {expr} }}}}{{% endfilter %}}",
        f"{{% with w = {expr} %}}{{{{ w }}}}{{% endwith %}}",
        f"{{% raw %}}{{{{ {expr} }}}}{{% endraw %}}",
        f"{{# {expr} #}}{{{{ {other} }}}}",
        f"{{{{ {expr}",  # unclosed
        f"{{% for %}}{{{{ {expr} }}}}",  # broken statement
    ]


@st.composite
def templates(draw):
    forms = _template_forms(draw(expressions), draw(expressions), draw(LOOP_BOUNDS), draw(LOOP_BOUNDS))
    return draw(st.sampled_from(forms))


# -- the properties ----------------------------------------------------------------------------


def check_result(value) -> None:
    text = json.dumps(value, allow_nan=False, ensure_ascii=False)
    assert json.loads(text) == value
    for marker in LEAKS:
        assert marker not in text, f"{marker!r} in {text[:500]}"


def evaluate_safely(compile_, source: str) -> None:
    try:
        compiled = compile_(source)
    except TemplateSyntaxError:
        return
    started = time.monotonic()
    try:
        value = compiled.evaluate(VALUES)
    except ExpressionError:
        value = None
    elapsed = time.monotonic() - started
    assert elapsed < TIME_LIMIT, f"{source!r} took {elapsed:.2f} s"
    check_result(value)


@FUZZ
@given(templates())
def test_templates_compile_evaluate_or_fail_cleanly(source):
    evaluate_safely(SANDBOX.template, source)


@FUZZ
@given(expressions)
def test_conditions_compile_evaluate_or_fail_cleanly(source):
    evaluate_safely(SANDBOX.condition, source)


@FUZZ
@given(
    st.lists(
        st.sampled_from([*"{}%#()[]|.'\"~*+-_ax01 \n", "{{", "}}", "{%", "%}", "for ", "if ", "in "]), max_size=30
    ).map("".join)
)
def test_arbitrary_text_compiles_or_is_a_syntax_error(source):
    evaluate_safely(SANDBOX.template, source)
    evaluate_safely(SANDBOX.condition, source)


# -- attacks fuzzing found, kept as regressions --------------------------------------------------


def _evaluate(source: str):
    return SANDBOX.template(source).evaluate(VALUES)


@pytest.mark.parametrize(
    "source",
    [
        "{{ " + "(" * 80 + "1" + ")" * 80 + " }}",
        "{{ " + "[" * 80 + "1" + "]" * 80 + " }}",
        "{{ " + "+".join(["1"] * 210) + " }}",
        "{% if 1 %}" * 110 + "x" + "{% endif %}" * 110,
        "{% for i in [1] %}" * 25 + "x" + "{% endfor %}" * 25,
        "{{ " + "9" * 5000 + " }}",
        "{{ not {[1]: 1} }}",
        "{{ 1 if ''['x'] else 2 }}",
    ],
)
def test_every_compile_failure_is_a_syntax_error(source):
    """Python's compiler and Jinja's constant folding fail on such templates (nesting
    past Python's limits, 5,000-digit ints, a folded ``not {[1]: 1}``); each must be a
    TemplateSyntaxError, i.e. a 422 with a path, never a 500."""
    with pytest.raises(TemplateSyntaxError):
        SANDBOX.template(source)


def test_compiling_a_short_template_is_quick():
    """Compile time grows steeply with nesting (``{{ a.b.b…b }}`` with 199 attributes
    took 6.6 s); the depth limit refuses it at once."""
    started = time.monotonic()
    with contextlib.suppress(TemplateSyntaxError):
        SANDBOX.template("{{ a" + ".b" * 160 + " }}")
    assert time.monotonic() - started < 0.25


@pytest.mark.parametrize("source", ["{{ a.text | truncate(0) }}", "{{ 'nan' | float }}", "{{ -1e308 - 1e308 }}"])
def test_every_evaluation_failure_is_an_expression_error(source):
    """``truncate`` asserts its length and Jinja folds ``'nan' | float`` into code that
    reads ``nan`` as a name: any failure of a user's template is an ExpressionError."""
    with pytest.raises(ExpressionError):
        _evaluate(source)


@pytest.mark.parametrize(
    "source",
    [
        "{{ '%*d' % (100000000, 1) }}",
        "{{ '%.*f' % (100000000, 1.0) }}",
        "{{ '{0:{1}}'.format(1, 100000000) }}",
        "{{ '{:{w}}'.format(1, w=100000000) }}",
        "{{ '%*d' | format(100000000, 1) }}",
        "{{ range(100000) | join('x' * 1000) }}",
        "{{ ('x' * 2000) | list | join('y' * 1999) }}",
        "{{ ('%s' * 1000) % (('x' * 2000,) * 1000) }}",
        "{% set ns = namespace(x='ab') %}{% for i in range(24) %}{% set ns.x = ns.x ~ ns.x %}{% endfor %}"
        "{{ ns.x | length }}",
        "{% set ns = namespace(x=3) %}{% for i in range(22) %}{% set ns.x = ns.x * ns.x %}{% endfor %}{{ ns.x > 1 }}",
    ],
)
def test_results_past_the_size_limit_are_refused_before_they_are_built(source):
    """Widths from arguments (``%*d``, ``{0:{1}}``), ``join``, ``%`` with large
    arguments, ``~`` doubling and integer squaring in loops: each would build megabytes
    (gigabytes at the default limit) and is refused before it is built."""
    started = time.monotonic()
    with pytest.raises(ExpressionError):
        _evaluate(source)
    assert time.monotonic() - started < 0.5


@pytest.mark.parametrize("source", ["{{ 1e308 * 10 }}", "{{ [-1e308 * 10] }}", "{{ 2 ** 20000 }}"])
def test_results_are_always_serialisable_json(source):
    """Infinity and 6,000-digit ints are not JSON: an expression never yields them."""
    try:
        value = _evaluate(source)
    except ExpressionError:
        return
    json.dumps(value, allow_nan=False)


@pytest.mark.parametrize(
    "source",
    [
        "x{{ a.text.upper }}",
        "x{{ range }}",
        "x{{ namespace }}",
        "x{{ ''.upper }}",
        "x{{ dict }}",
        # Turned into text first, by every road there is:
        "{{ range|string }}",
        "{{ namespace|lower }}",
        "{{ '{}'.format(namespace) }}",
        "{{ '{0.upper}'.format('x') }}",
        "{{ '%s' % dict }}",
        "{{ ''.upper ~ '' }}",
        "{{ [range, 1]|join(',') }}",
        "{{ a.text['upper']|string }}",
        "{{ {'f': range}|string }}",
        "{% for i in range(2) %}{{ loop.cycle|string }}{% endfor %}",
        # The issue's, and their kin: lazy sequences, loop state, macros, namespaces, views.
        "{{ (1,2)|map('string')|string }}",
        "{% for i in [1] %}{{ loop|string }}{% endfor %}",
        "{% for i in [1] %}{{ [loop]|string }}{% endfor %}",
        "{% for i in [1] %}{{ '%s' % loop }}{% endfor %}",
        "{% macro m() %}hi{% endmacro %}{{ m|string }}",
        "{% macro m() %}hi{% endmacro %}{{ 'x' ~ m }}",
        "{% macro m() %}{{ caller|string }}{% endmacro %}{% call m() %}x{% endcall %}",
        "{{ namespace(a=1)|string }}",
        "{{ self|string }}",
        "{{ [1,2]|reverse|string }}",
        "{{ [1,2]|select|string }}",
        "{{ [1,2]|batch(1)|string }}",
        "{{ {'a': 1}|items|string }}",
        "{{ {'a': 1}.items()|string }}",
        "{{ '{}'.format({'a': 1}.keys()) }}",
        "{{ [1,2]|unique|pprint }}",
        "{{ range(3)|string }}",
        "{{ 'x'.encode()|string }}",
        "{{ [(1,2)|map('string')]|string }}",
        "{{ {'k': [1]|reject}|tojson }}",
    ],
)
def test_rendered_text_never_shows_python_internals(source):
    """Inside text, a function or type would render as its repr, with names and
    addresses of the host process: refused instead (at compile time when Jinja folds
    the expression to a constant)."""
    try:
        text = _evaluate(source)
    except (ExpressionError, TemplateSyntaxError) as exc:
        assert not any(marker in str(exc) for marker in LEAKS[4:]), exc  # nor does an error
        return
    assert not any(marker in str(text) for marker in LEAKS), text


@pytest.mark.parametrize(
    ("source", "text"),
    [
        ("{{ (1,2)|map('string')|string }}", "['1', '2']"),
        ("{{ (1,2)|map('string')|join(',') }}", "1,2"),
        ("{{ [1,2]|reverse|string }}", "[2, 1]"),
        ("{{ [1,2,3]|batch(2)|string }}", "[[1, 2], [3]]"),
        ("{{ range(3)|string }}", "[0, 1, 2]"),
        ("{{ namespace(a=1)|string }}", "{'a': 1}"),
        ("{% set ns = namespace(n=0) %}{% for i in [1, 2] %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}", "3"),
        ("{% for i in 'ab' %}{{ loop.index }}{{ loop.cycle('x', 'y') }}{% endfor %}", "1x2y"),
        ("{% macro m(x) %}<{{ x }}>{% endmacro %}{{ m(1) }}", "<1>"),
    ],
)
def test_lazy_sequences_read_as_the_lists_they_stand_for(source, text):
    assert _evaluate(source) == text
