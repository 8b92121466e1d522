"""Templates and conditions: compiled once in the sandbox, evaluated per run.

A template that is exactly one ``{{ expression }}`` yields the expression's value
with its type; any other template renders to a string of at most ``max_chars``.
Whatever goes wrong while compiling is a ``TemplateSyntaxError`` (a validation
problem); whatever goes wrong while evaluating is an ``ExpressionError`` (a node
failure) — never another exception, and never quietly an empty string.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from jinja2 import meta, nodes
from jinja2.exceptions import TemplateError, TemplateSyntaxError
from jinja2.parser import Parser
from jinja2.visitor import NodeTransformer

from .sandbox import ResourceLimit, Sandbox, jsonable, reset_budget

MAX_DEPTH = 40  # nested expressions and blocks; the catalogue needs 18, and compiling slows steeply


class ExpressionError(Exception):
    """Evaluating failed: an undefined name, a type error, or a sandbox limit."""


class ExpressionLimit(ExpressionError):
    """Evaluating would have gone past a size or memory bound."""


@dataclass
class Compiled:
    """A parsed template or condition: what it refers to, and how to evaluate it."""

    source: str
    references: frozenset[str]
    lookup_only: bool  # only names, fields and comparisons: cannot compute its way out of bounds
    _template: Any = field(repr=False)
    _native: bool = field(repr=False)
    _sandbox: Sandbox = field(repr=False)

    def evaluate(self, values: dict[str, Any]) -> Any:
        reset_budget()
        try:
            if self._native:
                context = self._template.new_context(values)
                for _ in self._template.root_render_func(context):
                    pass
                return jsonable(context.vars["result"])
            return self._render(values)
        except ExpressionError:
            raise
        except ResourceLimit as exc:
            raise ExpressionLimit(str(exc)) from None
        except TemplateError as exc:  # undefined names, sandbox limits: Jinja's message says it
            raise ExpressionError(str(exc)) from None
        except MemoryError:
            raise  # the sandbox process it ran in reports it, and retires (``isolation.py``)
        except Exception as exc:  # a user's template failing is a node error, whatever the cause
            raise ExpressionError(f"{type(exc).__name__}: {exc}") from None

    def _render(self, values: dict[str, Any]) -> str:
        limit = self._sandbox.max_chars
        size, parts = 0, []
        for chunk in self._template.generate(values):
            size += len(chunk)
            if size > limit:
                raise ExpressionLimit(f"rendered text exceeds the limit of {limit} characters")
            parts.append(chunk)
        return "".join(parts)


class Expressions:
    """Compiles templates and conditions in one sandbox with one set of limits."""

    def __init__(self, max_chars: int = 200_000) -> None:
        self.sandbox = Sandbox(max_chars)

    def template(self, source: str) -> Compiled:
        """Raises ``TemplateSyntaxError`` for anything that cannot be compiled."""
        with _compile_errors_as_syntax_errors():
            tree = self.sandbox.parse(source)
            _check_depth(tree)
            references = self._references(tree)
            expression = _single_expression(tree)
            if expression is not None:
                return self._compiled(source, references, expression)
            lookup_only = _lookup_only(tree)
            _guard(tree, self.sandbox)
            return Compiled(source, references, lookup_only, self.sandbox.from_string(tree), False, self.sandbox)

    def condition(self, source: str) -> Compiled:
        with _compile_errors_as_syntax_errors():
            parser = Parser(self.sandbox, source, state="variable")
            expression = parser.parse_expression()
            if not parser.stream.eos:
                raise TemplateSyntaxError("unexpected text after the expression", parser.stream.current.lineno)
            tree = _assign_result(expression)
            tree.set_environment(self.sandbox)
            _check_depth(tree)
            return self._compiled(source, self._references(tree), expression)

    def _compiled(self, source: str, references: frozenset[str], expression: nodes.Expr) -> Compiled:
        tree = _assign_result(expression)
        tree.set_environment(self.sandbox)
        lookup_only = _lookup_only(tree)
        _guard(tree, self.sandbox)
        return Compiled(source, references, lookup_only, self.sandbox.from_string(tree), True, self.sandbox)

    def _references(self, tree: nodes.Template) -> frozenset[str]:
        return frozenset(meta.find_undeclared_variables(tree) - set(self.sandbox.globals))


@contextmanager
def _compile_errors_as_syntax_errors() -> Iterator[None]:
    """Python's own limits (nesting, 4,300-digit ints) and Jinja's constant folding can
    fail while compiling; to the person writing the template, that is a syntax error."""
    try:
        yield
    except TemplateSyntaxError:
        raise
    except Exception as exc:
        message = f"the template cannot be compiled ({type(exc).__name__}: {exc})"[:300]
        raise TemplateSyntaxError(message, 1) from None


def _check_depth(tree: nodes.Node) -> None:
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise TemplateSyntaxError(f"the template is nested more than {MAX_DEPTH} levels deep", node.lineno or 1)
        stack.extend((child, depth + 1) for child in node.iter_child_nodes())


class _Guards(NodeTransformer):
    """Route what the sandbox cannot intercept through its guards: every loop's
    iterable through the shared loop budget, every ``~`` through a sized join."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def visit_For(self, node: nodes.For) -> nodes.For:  # noqa: N802 - Jinja's visitor naming
        node = self.generic_visit(node)
        node.iter = self._call("_loop_guard", [node.iter])
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Call:  # noqa: N802
        return self._call("_concat", self.generic_visit(node).nodes)

    def _call(self, name: str, args: list[nodes.Expr]) -> nodes.Call:
        call = nodes.Call(nodes.Name(name, "load"), args, [], None, None)
        call.set_environment(self.sandbox)
        return call


def _guard(tree: nodes.Template, sandbox: Sandbox) -> None:
    _Guards(sandbox).visit(tree)


# What a template may hold and still be cheap whatever the values: each of these costs
# at most one pass over values that already exist (and text is capped when rendered).
_LOOKUP_NODES = (
    nodes.Template,
    nodes.Output,
    nodes.TemplateData,
    nodes.Assign,
    nodes.Name,
    nodes.Getattr,
    nodes.Getitem,
    nodes.Const,
    nodes.Compare,
    nodes.Operand,
    nodes.And,
    nodes.Or,
    nodes.Not,
    nodes.CondExpr,
)


def _lookup_only(tree: nodes.Node) -> bool:
    """Whether evaluating ``tree`` is bounded by the size of its inputs: no calls,
    filters, loops or arithmetic, so it need not run in a sandbox process."""
    return all(isinstance(node, _LOOKUP_NODES) for node in tree.find_all(nodes.Node))


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
