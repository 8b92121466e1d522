"""Regular expressions users write: held to static bounds before anything compiles them.

The ``regex`` module unrolls counted repetitions as it compiles: ``(?:a{1000}){1000}``
costs 250 MB and 2 s before a single character is matched, and
``(?:(?:a{100}){100}){300}`` grew a web process by 791 MB. So a pattern is first read
here, as text, by a parser of its structure that builds nothing: its length, each
repetition count, the depth of its groups, and its *weight* — every literal, class or
escape counted once per time the counts around it repeat it, which is what compiling
expands (measured: about 250 bytes to 1 KB and 2 µs per unit of weight). Within the
bounds below, compiling takes a few megabytes and milliseconds.

Even then, a pattern is compiled and matched only where memory and time are capped: in a
sandbox process (``isolation.py``), with a timeout on each match. The parser is
deliberately conservative: where the syntax depends on a flag it cannot place for sure
(verbose mode's comments and spaces, version 1's sets inside sets) it reads the pattern
every way and keeps the heaviest reading, so it counts more, never less, than ``regex``
would build.
Every user pattern (a ``regex_extract`` step, a test's ``matches`` check) goes through
``pattern_problem`` where it is written and ``compiled`` where it runs.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import regex

MATCH_TIMEOUT = 1.0  # seconds one search may take before it fails


@dataclass(frozen=True)
class PatternBounds:
    max_chars: int = 1_000  # the pattern's length
    max_repeat: int = 1_000  # any count in {m}, {m,}, {,n}, {m,n}
    max_weight: int = 10_000  # what compiling expands: atoms × the counts around them
    max_depth: int = 20  # groups inside groups


BOUNDS = PatternBounds()

_COUNT = re.compile(r"\{(\d+)\}|\{(\d*),(\d*)\}")
_BRACED_ESCAPES = frozenset("pPNx")  # \p{L}, \N{name}, \x{263a}: the braces are the escape's
_VERBOSE = re.compile(r"\(\?[a-zA-Z0-9^-]*x")
_POSIX_CLASS = re.compile(r"\[:\^?[A-Za-z_]+:\]")
_SETS_NEST = re.compile(r"\(\?[a-zA-Z0-9^-]*V1")  # version 1 syntax: sets inside sets


class PatternError(ValueError):
    """A pattern that does not parse. ``code`` is the problem's, as a definition reports it."""

    code = "syntax_error"


class PatternTooLarge(PatternError):
    """A pattern past a bound."""

    code = "invalid_value"


def pattern_problem(source: str, bounds: PatternBounds = BOUNDS) -> PatternError | None:
    """Why ``source`` may not be compiled, or None. Costs one pass over the text."""
    try:
        check(source, bounds)
    except PatternError as exc:
        return exc
    return None


def check(source: str, bounds: PatternBounds = BOUNDS) -> int:
    """The pattern's weight; raises ``PatternError`` past a bound, or if no reading of it parses."""
    if len(source) > bounds.max_chars:
        raise PatternTooLarge(f"the pattern is {len(source)} characters long; at most {bounds.max_chars}")
    verbose = (False, True) if _VERBOSE.search(source) else (False,)
    nested = (False, True) if _SETS_NEST.search(source) else (False,)
    weights, broken = [], None
    for reading in ((v, n) for v in verbose for n in nested):
        try:
            weights.append(_Reader(source, bounds, *reading).weight())
        except PatternTooLarge:
            raise
        except PatternError as exc:
            broken = exc
    if not weights:
        raise broken
    return max(weights)


@functools.lru_cache(maxsize=16)  # per process (a sandbox): a few, each a few MB at most
def compiled(source: str) -> regex.Pattern:
    """The compiled pattern. Call it only where memory and time are capped (a sandbox
    process): ``check`` first, then this. Raises ``PatternError`` for bad syntax."""
    check(source)
    try:
        return regex.compile(source, cache_pattern=False)
    except (regex.error, RecursionError, OverflowError) as exc:
        raise PatternError(f"invalid regular expression: {exc}") from None


def search(source: str, text: str) -> regex.Match | None:
    """The first match of ``source`` in ``text``; ``TimeoutError`` past ``MATCH_TIMEOUT``."""
    return compiled(source).search(text, timeout=MATCH_TIMEOUT)


class _Reader:
    """One pass over a pattern, building nothing: a stack of open groups, each holding
    the weight of its alternatives and of the item a quantifier after it would repeat."""

    def __init__(self, source: str, bounds: PatternBounds, verbose: bool, nested_sets: bool) -> None:
        self.text, self.bounds, self.at = source, bounds, 0
        self.verbose, self.nested_sets = verbose, nested_sets

    def weight(self) -> int:
        # A frame: [the alternatives closed so far, this alternative, its last item].
        # Alternatives add up (compiling builds every branch), items add up, counts multiply.
        stack: list[list[int]] = [[0, 0, 0]]
        text = self.text
        while self.at < len(text):
            char = text[self.at]
            if char == "(" and text.startswith("(?#", self.at):
                self._skip_comment()
                continue
            if char == "(":
                self.at += 1
                stack.append([0, 0, 0])
                if len(stack) - 1 > self.bounds.max_depth:
                    raise PatternTooLarge(f"groups are nested more than {self.bounds.max_depth} deep")
            elif char == ")":
                if len(stack) == 1:
                    raise PatternError(f"unbalanced parenthesis at position {self.at}")
                closed, current, _ = stack.pop()
                self.at += 1
                self._item(stack[-1], max(closed + current, 1))
            elif char == "|":
                frame = stack[-1]
                frame[:] = [frame[0] + frame[1], 0, 0]
                self.at += 1
            elif char in "*+?":
                self.at += 1  # an open repeat is not unrolled: the item stays as it is
            elif char == "{" and (count := _COUNT.match(text, self.at)) is not None:
                self._repeat(stack[-1], count)
            elif self.verbose and char.isspace():
                self.at += 1  # verbose: a quantifier after a space repeats what came before it
            elif self.verbose and char == "#":
                end = text.find("\n", self.at)  # a comment, to the end of its line
                self.at = len(text) if end < 0 else end + 1
            else:
                self._skip_atom(char)
                self._item(stack[-1], 1)
        if len(stack) > 1:
            raise PatternError("missing ), unterminated group")
        closed, current, _ = stack[0]
        return self._bounded(closed + current)

    def _item(self, frame: list[int], weight: int) -> None:
        frame[1] += weight
        frame[2] = weight

    def _repeat(self, frame: list[int], count: re.Match) -> None:
        exact, low, high = count.groups()
        low, high = (int(n) if n else None for n in ((exact, exact) if exact else (low, high)))
        if max(low or 0, high or 0) > self.bounds.max_repeat:
            raise PatternTooLarge(f"a repetition count is over {self.bounds.max_repeat}: {count.group()}")
        if low is not None and high is not None and low > high:
            raise PatternError(f"the repetition {count.group()} counts down")
        times = max(high if high is not None else low or 1, 1)  # {m,} builds m copies; {m,n} n
        frame[1] += frame[2] * (times - 1)
        frame[2] *= times
        self.at = count.end()
        self._bounded(frame[0] + frame[1])

    def _bounded(self, weight: int) -> int:
        if weight > self.bounds.max_weight:
            raise PatternTooLarge(
                f"the pattern repeats too much: it would build {weight:,} parts or more; "
                f"at most {self.bounds.max_weight:,}"
            )
        return weight

    def _skip_comment(self) -> None:
        end = self.text.find(")", self.at)
        if end < 0:
            raise PatternError("missing ), unterminated comment")
        self.at = end + 1

    def _skip_atom(self, char: str) -> None:
        if char == "[":
            self._skip_set()
        elif char == "\\":
            self._skip_escape()
        else:
            self.at += 1

    def _skip_escape(self) -> None:
        text, at = self.text, self.at
        if at + 1 >= len(text):
            raise PatternError("a bad escape (end of pattern)")
        self.at = at + 2
        if text[at + 1] in _BRACED_ESCAPES and text.startswith("{", self.at):
            end = text.find("}", self.at)
            self.at = len(text) if end < 0 else end + 1

    def _skip_set(self) -> None:
        """Past a character class. Version 0 ends it at the first unescaped ``]`` (one
        right after ``[`` or ``[^`` is literal, and so is a ``[:alpha:]`` inside);
        version 1 nests sets in sets."""
        text, at, depth, opened = self.text, self.at + 1, 1, True
        while depth:
            if at >= len(text):
                raise PatternError("unterminated character set")
            if opened:
                at += text.startswith("^", at)
                at += text.startswith("]", at)
                opened = False
                continue
            posix = _POSIX_CLASS.match(text, at)
            if posix is not None:
                at = posix.end()
            elif text[at] == "\\":
                at += 2
            elif text[at] == "[" and self.nested_sets:
                depth, opened, at = depth + 1, True, at + 1
            elif text[at] == "]":
                depth, at = depth - 1, at + 1
            else:
                at += 1
        self.at = at
