"""The sandboxed Jinja2 environment, with bounds on size and time.

Jinja's ``SandboxedEnvironment`` already refuses dunder access, unsafe callables and
``str.format`` tricks. What it does not bound is how much a short template can
build or how long it can spin: ``'x' * 10**10``, ``'%*d' % (10**9, 1)``,
``s.center(10**9)``, ``range(10**5) | join(s)``, doubling a string with ``~`` in a
loop, squaring an integer in a loop. Every operation that can grow a value is
checked *before* it runs, against ``max_chars``; every loop draws on one budget per
render. Values are immutable (no ``list.append``, ``dict.update``…), so nothing grows
in place where no check sees it. A hostile template ends as a clear error, quickly.

These are the cheap guards. What slips past them (a filter chain that builds a huge
value, a long ``sum`` or ``sort``) is stopped by the process the template runs in:
its memory is capped and it is killed at its deadline (``isolation.py``).
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import ItemsView, Iterable, Iterator, KeysView, ValuesView
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined
from jinja2.environment import Template
from jinja2.exceptions import SecurityError
from jinja2.filters import do_center, do_format, do_indent, do_join, do_replace, make_attrgetter, pass_eval_context
from jinja2.runtime import LoopContext, Macro, Namespace, TemplateReference, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_LOOP_ITERATIONS = 10_000  # per render, across every loop in the template
MAX_INT_BITS = 100_000  # about 30,000 digits: far past any real use, far short of a hang
JSON_INT_BITS = 14_000  # Python writes at most 4,300 digits of an int as text
_DIGITS = re.compile(r"\d+")
_NESTED_FIELD = re.compile(r"\{[^{}]*\{")  # '{0:{1}}': a width taken from the arguments
_WIDENING_METHODS = frozenset({"center", "ljust", "rjust", "zfill"})
_SAFE_GLOBALS = ("dict", "namespace")


class ResourceLimit(SecurityError):
    """A value would grow past the sandbox's size bound (the node fails as ``resource_limit``)."""


# No template output shows a Python object's repr, class name or memory address. Text is
# made from a value by ``str`` (``|string``, ``~``, ``%``, ``format``, ``join``, ``{{ }}``),
# which for anything but data shows exactly those, so what is not data never gets there
# as itself: a lazy sequence becomes the list it stands for as it is made (a filter's or
# a call's result), and everything else stands behind a type whose every way to text
# refuses, or (a namespace) shows its values.


def _no_text(what: str):
    def refuse(self: Any, *_: Any) -> str:
        raise SecurityError(f"{what(self) if callable(what) else what} has no text to show")

    return refuse


class Opaque:
    """A value that is not data (bytes), as templates see it: never text. Its fields
    start with an underscore: the sandbox keeps templates away from them."""

    __slots__ = ("_name", "_value")

    def __init__(self, value: Any, name: str) -> None:
        self._value, self._name = value, name

    __str__ = __repr__ = __format__ = _no_text(lambda self: f"what '{self._name}' gave is not data: it")


class Function(Opaque):
    """A function or type as templates see it: callable, never text (``range|string``,
    ``"{}".format(namespace)``, ``"x".upper ~ ""`` would show an address or a class)."""

    __slots__ = ()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._value(*args, **kwargs)

    __str__ = __repr__ = __format__ = _no_text(lambda self: f"'{self._name}' is a function: it")


class _Loop(LoopContext):
    __str__ = __repr__ = __format__ = _no_text("'loop' is a loop's state: it")


class _Macro(Macro):
    __str__ = __repr__ = __format__ = _no_text(lambda self: f"'{self.name}' is a macro (call it): it")


class _Reference(TemplateReference):
    __str__ = __repr__ = __format__ = _no_text("'self' is the template: it")


class _Namespace(Namespace):
    """Shows its values, as the object it is to a template."""

    def __repr__(self) -> str:
        return repr(self._Namespace__attrs)

    __str__ = __repr__


# What a template's compiled code builds these from (it imports them from jinja2.runtime).
_RUNTIME = {"LoopContext": _Loop, "Macro": _Macro, "TemplateReference": _Reference, "Namespace": _Namespace}
_LAZY = (Iterator, KeysView, ValuesView, ItemsView, range)  # generators, map(), reversed(), dict views


class _Template(Template):
    @classmethod
    def _from_namespace(cls, environment, namespace, globals):
        namespace.update(_RUNTIME)  # the module's globals: its functions look them up as they run
        return super()._from_namespace(environment, namespace, globals)


_DATA = frozenset({str, int, float, bool, type(None), list, tuple, dict})  # as they are: most values


def _opaque(value: Any, name: Any) -> Any:
    """``value`` as data a template may hold: a lazy sequence as its list, a callable as
    a ``Function``, bytes behind an ``Opaque``; anything else as it is."""
    if type(value) in _DATA:
        return value
    if isinstance(value, _LAZY):
        return list(value)
    if callable(value) and not isinstance(value, Undefined | Opaque):
        return Function(value, str(name))
    if isinstance(value, (bytes, bytearray)):
        return Opaque(value, str(name))
    return value


def _as_data(function, name: str):
    """A filter whose result is held to ``_opaque`` (``map``, ``select``, ``reverse``,
    ``batch``, ``items``, ``unique`` return lazy sequences)."""

    def filtered(*args, **kwargs):
        return _opaque(function(*args, **kwargs), name)

    if hasattr(function, "jinja_pass_arg"):  # keep Jinja's pass_context / pass_eval_context marker
        filtered.jinja_pass_arg = function.jinja_pass_arg
    return filtered


@dataclass
class _Budget(threading.local):
    iterations: int = MAX_LOOP_ITERATIONS


_budget = _Budget()


def reset_budget() -> None:
    _budget.iterations = MAX_LOOP_ITERATIONS


def _loop_guard(iterable: Iterable) -> Iterator:
    """Wraps the iterable of every ``{% for %}``: one shared budget per render."""
    for item in iterable:
        _budget.iterations -= 1
        if _budget.iterations < 0:
            raise ResourceLimit(f"template loops ran more than {MAX_LOOP_ITERATIONS} iterations")
        yield item


class Sandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "%", "+"})
    template_class = _Template

    def __init__(self, max_chars: int) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False, finalize=_finalize)
        self.max_chars = max_chars
        for name in list(self.globals):
            if name not in _SAFE_GLOBALS:
                del self.globals[name]  # lipsum, cycler, joiner: nothing a workflow needs
        self.globals.update(_loop_guard=_loop_guard, _concat=self._concat, range=self._range, namespace=_Namespace)
        self.globals.update({name: _opaque(value, name) for name, value in self.globals.items()})
        self.filters.update(
            center=self._guarded(do_center, lambda value, width=80: width),
            indent=self._guarded(do_indent, lambda value, width=4, *a, **k: _indented_size(value, width)),
            format=self._guarded(do_format, lambda value, *args, **kwargs: _format_size(value, args, kwargs)),
            replace=self._guarded(do_replace, lambda value, old, new, count=None: _replace_size(value, old, new)),
            join=self._join,
        )
        self.filters = {name: _as_data(function, name) for name, function in self.filters.items()}

    def check(self, size: float, what: str) -> None:
        if size > self.max_chars:
            raise ResourceLimit(f"{what} would exceed the limit of {self.max_chars} characters")

    def _range(self, *args: int) -> list[int]:
        """``range(10**12) | list`` builds what no loop budget sees: size it first. A
        list, as templates see it (``range(3)|string`` is ``[0, 1, 2]``)."""
        numbers = range(*args)
        try:
            self.check(len(numbers), "range")
        except OverflowError:
            raise ResourceLimit("the range is too long") from None
        return list(numbers)

    def _guarded(self, function, size_of):
        def guarded(*args, **kwargs):
            self.check(size_of(*_strip_context(function, args), **kwargs), "the filter's result")
            return function(*args, **kwargs)

        if hasattr(function, "jinja_pass_arg"):  # keep Jinja's pass_eval_context marker
            guarded.jinja_pass_arg = function.jinja_pass_arg
        return guarded

    # -- operators -----------------------------------------------------------------------

    def call_binop(self, context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(times, int):
                    self.check(len(seq) * times, "repetition")
            if _is_int(left) and _is_int(right) and left.bit_length() + right.bit_length() > MAX_INT_BITS:
                raise ResourceLimit("the product is too large")
        elif operator == "**" and isinstance(left, (int, float)) and isinstance(right, (int, float)):
            if abs(right) * math.log2(abs(left) + 2) > MAX_INT_BITS:
                raise ResourceLimit("the power is too large")
        elif operator == "%" and isinstance(left, str):
            self.check(_format_size(left, right if isinstance(right, tuple) else (right,), {}), "formatting")
        elif operator == "+" and isinstance(left, (str, list)) and isinstance(right, (str, list)):
            self.check(len(left) + len(right), "concatenation")
        return super().call_binop(context, operator, left, right)

    def _concat(self, *parts: Any) -> str:
        """``a ~ b``: Jinja compiles it to a join no sandbox hook sees, so templates are
        compiled to call this instead (``expressions.py``)."""
        texts = [str(part) for part in parts]
        self.check(sum(map(len, texts)), "concatenation")
        return "".join(texts)

    # -- calls and attributes ------------------------------------------------------------

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 - Jinja's signature
        if isinstance(__obj, Function):  # the sandbox's checks look at the function itself
            __obj = __obj._value
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            name = getattr(__obj, "__name__", "")
            if name in _WIDENING_METHODS and args:
                __self.check(_int(args[0]), f"str.{name}")
            elif name == "expandtabs":
                __self.check(len(owner) + owner.count("\t") * _int(args[0] if args else 8), "str.expandtabs")
            elif name == "replace" and len(args) >= 2:
                __self.check(_replace_size(owner, args[0], args[1]), "str.replace")
            elif name == "join" and args:
                items = [str(item) for item in args[0]]
                __self.check(_joined_size(items, owner), "str.join")
                args = (items, *args[1:])
        return _opaque(super().call(__context, __obj, *args, **kwargs), getattr(__obj, "__name__", "the result"))

    def wrap_str_format(self, value: Any):
        """Jinja swaps ``str.format`` for a sandboxed version on access; size it per call."""
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        template, is_map = value.__self__, value.__name__ == "format_map"

        def sized(*args, **kwargs):
            mapping = args[0] if is_map and args and isinstance(args[0], dict) else kwargs
            self.check(_format_size(template, () if is_map else args, mapping), "str.format")
            return wrapped(*args, **kwargs)

        return sized

    def getattr(self, obj: Any, attribute: str) -> Any:
        """``node.items`` means the output field "items", not the dict method."""
        if isinstance(obj, dict) and attribute in obj:
            return obj[attribute]
        return _opaque(super().getattr(obj, attribute), attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        return _opaque(super().getitem(obj, argument), argument)

    @pass_eval_context
    def _join(self, eval_ctx, value: Iterable, d: str = "", attribute: Any = None) -> str:
        items = list(value)
        if attribute is not None:
            items = list(map(make_attrgetter(eval_ctx.environment, attribute), items))
        self.check(_joined_size([str(item) for item in items], str(d)), "join")
        return do_join(eval_ctx, items, d)


def _finalize(value: Any) -> Any:
    """What ``{{ value }}`` may print: data. A skipped node prints nothing (not
    "None"); a function, type or other object is an error, never its repr."""
    if value is None:
        return ""
    if isinstance(value, (str, int, float, bool)):
        return value
    return jsonable(value)


def jsonable(value: Any) -> Any:
    """Expression results become node outputs, stored as JSON: refuse anything else
    (Undefined raises its own error; ``TypeError``/``ValueError`` name the problem)."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"the expression produced {value}, which JSON cannot hold")
        return value
    if isinstance(value, int):
        if value.bit_length() > JSON_INT_BITS:
            raise ValueError("the expression produced an integer too large for JSON")
        return value
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    if isinstance(value, dict):
        return {_json_key(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, _Namespace):
        return jsonable(dict(value._Namespace__attrs))
    if isinstance(value, _LAZY):
        return [jsonable(v) for v in value]
    raise TypeError(f"the expression produced {_kind(value)}, which is not a JSON value")


def _kind(value: Any) -> str:
    """What a value is, in words a template's author knows (never a class name)."""
    if isinstance(value, _Loop):
        return "a loop's state ('loop')"
    if isinstance(value, _Macro):
        return "a macro"
    if callable(value):
        return "a function"
    return "something other than data"


def _json_key(key: Any) -> str:
    if key is None or isinstance(key, (str, int, float, bool)):
        return json.dumps(key) if not isinstance(key, str) else key  # as json.dumps writes them
    raise TypeError(f"an object key must be text, not a {type(key).__name__}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _text_length(value: Any) -> int:
    return len(value) if isinstance(value, str) else len(str(value)) if not _is_int(value) else value.bit_length() // 3


def _format_size(template: Any, args: Iterable, kwargs: dict) -> int:
    """An upper bound on what a ``%`` or ``format`` call may build: the template, its
    literal widths, the arguments, and, where widths come from the arguments
    (``%*d``, ``{0:{1}}``), the largest integer among them."""
    template = str(template)
    values = [*args, *kwargs.values()]
    size = len(template) + max((int(d) for d in _DIGITS.findall(template[:10_000])), default=0)
    size += sum(_text_length(v) for v in values)
    if "*" in template or _NESTED_FIELD.search(template):
        size += max((abs(v) for v in values if _is_int(v)), default=0)
    return size


def _replace_size(value: Any, old: Any, new: Any) -> int:
    text, old, new = str(value), str(old), str(new)
    return len(text) + (text.count(old) if old else len(text) + 1) * max(len(new) - len(old), 0)


def _indented_size(value: Any, width: Any) -> int:
    text = str(value)
    return len(text) + (text.count("\n") + 1) * (_int(width) if not isinstance(width, str) else len(width))


def _joined_size(items: list[str], separator: str) -> int:
    return sum(map(len, items)) + len(separator) * max(len(items) - 1, 0)


def _strip_context(function, args: tuple) -> tuple:
    return args[1:] if getattr(function, "jinja_pass_arg", None) else args
