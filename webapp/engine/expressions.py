"""The one sandboxed Jinja2 environment behind every template and condition.

Jinja's ``SandboxedEnvironment`` already refuses dunder access, unsafe callables and
``str.format`` tricks. What it does not bound is *size and time*: ``'x' * 10**10``,
``'%999999999d' % 1``, ``s.center(10**9)`` or nested loops over ``range``. This
module adds those bounds, so a hostile template ends as a clear error, quickly,
instead of a worker that hangs or runs out of memory.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from jinja2 import StrictUndefined, TemplateError, meta, nodes
from jinja2.exceptions import SecurityError, TemplateSyntaxError
from jinja2.filters import do_center, do_format, do_indent, do_replace
from jinja2.parser import Parser
from jinja2.runtime import Undefined
from jinja2.sandbox import SandboxedEnvironment

MAX_LOOP_ITERATIONS = 10_000  # per render, across every loop in the template
MAX_EXPONENT_BITS = 100_000
_WIDTH = re.compile(r"\d+")
_WIDENING_METHODS = frozenset({"center", "ljust", "rjust", "zfill"})
_SAFE_GLOBALS = ("range", "dict", "namespace")


class ExpressionError(Exception):
    """Rendering failed: an undefined name, a type error, or a sandbox limit."""


@dataclass
class _Budget(threading.local):
    iterations: int = MAX_LOOP_ITERATIONS


_budget = _Budget()


def _loop_guard(iterable: Iterable) -> Iterator:
    """Wraps the iterable of every ``{% for %}``: one shared budget per render."""
    for item in iterable:
        _budget.iterations -= 1
        if _budget.iterations < 0:
            raise SecurityError(f"template loops ran more than {MAX_LOOP_ITERATIONS} iterations")
        yield item


class Sandbox(SandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, max_chars: int) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False, finalize=_finalize)
        self.max_chars = max_chars
        for name in list(self.globals):
            if name not in _SAFE_GLOBALS:
                del self.globals[name]  # lipsum, cycler, joiner: nothing a workflow needs
        self.globals["_loop_guard"] = _loop_guard
        self.filters.update(
            center=self._guarded(do_center, lambda value, width=80: width),
            indent=self._guarded(do_indent, lambda value, width=4, *a, **k: _indented_size(value, width)),
            format=self._guarded(do_format, lambda value, *a, **k: _format_width(value)),
            replace=self._guarded(do_replace, lambda value, old, new, count=None: _replace_size(value, old, new)),
        )

    # -- size guards -------------------------------------------------------------

    def _check(self, size: float, what: str) -> None:
        if size > self.max_chars:
            raise SecurityError(f"{what} would exceed the limit of {self.max_chars} characters")

    def _guarded(self, function, size_of):
        def guarded(*args, **kwargs):
            self._check(size_of(*_strip_env(function, args), **kwargs), "filter result")
            return function(*args, **kwargs)

        if hasattr(function, "jinja_pass_arg"):  # keep Jinja's pass_eval_context marker
            guarded.jinja_pass_arg = function.jinja_pass_arg
        return guarded

    def call_binop(self, context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(times, int):
                    self._check(len(seq) * times, "repetition")
        elif operator == "**" and isinstance(left, (int, float)) and isinstance(right, (int, float)):
            if abs(right) * math.log2(abs(left) + 2) > MAX_EXPONENT_BITS:
                raise SecurityError("power is too large")
        elif operator == "%" and isinstance(left, str):
            self._check(len(left) + _format_width(left), "formatting")
        elif operator == "+" and isinstance(left, (str, list)) and isinstance(right, (str, list)):
            self._check(len(left) + len(right), "concatenation")
        return super().call_binop(context, operator, left, right)

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 - Jinja's signature
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            name = getattr(__obj, "__name__", "")
            if name in _WIDENING_METHODS and args:
                __self._check(_int(args[0]), f"str.{name}")
            elif name == "expandtabs":
                __self._check(len(owner) + owner.count("\t") * _int(args[0] if args else 8), "str.expandtabs")
            elif name == "replace" and len(args) >= 2:
                __self._check(_replace_size(owner, args[0], args[1]), "str.replace")
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any):
        """Jinja swaps ``str.format`` for a sandboxed version on access; check widths there."""
        wrapped = super().wrap_str_format(value)
        if wrapped is not None:
            self._check(len(value.__self__) + _format_width(value.__self__), "str.format")
        return wrapped

    def getattr(self, obj: Any, attribute: str) -> Any:
        """``node.items`` means the output field "items", not the dict method."""
        if isinstance(obj, dict) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)


def _finalize(value: Any) -> Any:
    return "" if value is None else value  # a skipped node renders as nothing, not "None"


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _indented_size(value: Any, width: Any) -> int:
    text = str(value)
    return len(text) + (text.count("\n") + 1) * (_int(width) if not isinstance(width, str) else len(width))


def _format_width(fmt: Any) -> int:
    """The widest field a format string could ask for (``%0999d``, ``{:>999}``)."""
    return max((int(d) for d in _WIDTH.findall(str(fmt)[:10_000])), default=0)


def _replace_size(value: Any, old: Any, new: Any) -> int:
    text, old, new = str(value), str(old), str(new)
    return len(text) + (text.count(old) if old else len(text) + 1) * max(len(new) - len(old), 0)


def _strip_env(function, args: tuple) -> tuple:
    return args[1:] if getattr(function, "jinja_pass_arg", None) else args


# -- compiled templates and conditions ----------------------------------------------


@dataclass
class Compiled:
    """A parsed template or condition: what it refers to, and how to evaluate it."""

    source: str
    references: frozenset[str]
    _template: Any = field(repr=False)
    _native: bool = field(repr=False)
    _sandbox: Sandbox = field(repr=False)

    def evaluate(self, values: dict[str, Any]) -> Any:
        """A single ``{{ expression }}`` (or a condition) keeps its type; other
        templates render to a string of at most ``max_chars``."""
        _budget.iterations = MAX_LOOP_ITERATIONS
        try:
            if self._native:
                context = self._template.new_context(values)
                for _ in self._template.root_render_func(context):
                    pass
                return jsonable(context.vars["result"])
            return self._render(values)
        except ExpressionError:
            raise
        except TemplateError as exc:
            raise ExpressionError(str(exc)) from None
        except (ArithmeticError, TypeError, ValueError, LookupError, AttributeError, RecursionError) as exc:
            raise ExpressionError(f"{type(exc).__name__}: {exc}") from None
        except MemoryError:
            raise ExpressionError("the template needed too much memory") from None

    def _render(self, values: dict[str, Any]) -> str:
        limit = self._sandbox.max_chars
        size, parts = 0, []
        for chunk in self._template.generate(values):
            size += len(chunk)
            if size > limit:
                raise ExpressionError(f"rendered text exceeds the limit of {limit} characters")
            parts.append(chunk)
        return "".join(parts)


def jsonable(value: Any) -> Any:
    """Expression results become node outputs, stored as JSON: refuse anything else."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    raise ExpressionError(f"the expression produced a {type(value).__name__}, which is not a JSON value")


class Expressions:
    """Compiles templates and conditions in one sandbox with one set of limits."""

    def __init__(self, max_chars: int = 200_000) -> None:
        self.sandbox = Sandbox(max_chars)

    def template(self, source: str) -> Compiled:
        """Raises ``TemplateSyntaxError`` with Jinja's own message."""
        tree = self.sandbox.parse(source)
        references = self._references(tree)
        expression = _single_expression(tree)
        if expression is not None:
            return self._compiled(source, references, expression)
        self._guard_loops(tree)
        return Compiled(source, references, self.sandbox.from_string(tree), False, self.sandbox)

    def condition(self, source: str) -> Compiled:
        parser = Parser(self.sandbox, source, state="variable")
        expression = parser.parse_expression()
        if not parser.stream.eos:
            raise TemplateSyntaxError("unexpected text after the expression", parser.stream.current.lineno)
        tree = _assign_result(expression)
        tree.set_environment(self.sandbox)
        return self._compiled(source, self._references(tree), expression)

    def _compiled(self, source: str, references: frozenset[str], expression: nodes.Expr) -> Compiled:
        expression.set_environment(self.sandbox)
        template = self.sandbox.from_string(_assign_result(expression))
        return Compiled(source, references, template, True, self.sandbox)

    def _references(self, tree: nodes.Template) -> frozenset[str]:
        return frozenset(meta.find_undeclared_variables(tree) - set(self.sandbox.globals))

    def _guard_loops(self, tree: nodes.Template) -> None:
        for loop in tree.find_all(nodes.For):
            guard = nodes.Call(nodes.Name("_loop_guard", "load"), [loop.iter], [], None, None)
            guard.set_environment(self.sandbox)
            loop.iter = guard


def _single_expression(tree: nodes.Template) -> nodes.Expr | None:
    """The expression of a template that is exactly ``{{ expression }}``, else None."""
    if len(tree.body) == 1 and isinstance(tree.body[0], nodes.Output):
        parts = tree.body[0].nodes
        if len(parts) == 1 and not isinstance(parts[0], nodes.TemplateData):
            return parts[0]
    return None


def _assign_result(expression: nodes.Expr) -> nodes.Template:
    return nodes.Template([nodes.Assign(nodes.Name("result", "store"), expression, lineno=1)], lineno=1)


def syntax_message(exc: TemplateSyntaxError) -> str:
    return f"{exc.message} (line {exc.lineno})" if exc.lineno and exc.lineno > 1 else str(exc.message)
