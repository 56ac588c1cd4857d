"""The limits a user's template renders within: size, work, depth and time.

Templates are user input, and Jinja renders them in the web process. The sandbox
keeps them away from Python internals, but not from building a gigabyte string,
a number with millions of digits, or looping for minutes. Every operation that
can grow a value is checked *before* it runs (an estimate of what it would make)
and its result after; every step of a render spends from one budget that also
watches the clock. A message is short: anything near these limits is an attempt
to exhaust the server, so it is refused with a sentence, never a 500.

`outreach.rules.template_sandbox` calls these helpers from Jinja's hooks.
"""

from __future__ import annotations

import math
import re
import string
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from jinja2 import nodes
from jinja2.utils import Namespace

from outreach.errors import TemplateError, TemplateTooBig, TemplateTooComplex, TemplateTooSlow

# Sizes of what a template may write or make.
MAX_SOURCE = 20_000  # characters of template text
MAX_NODES = 5_000  # parts of a parsed template: text pieces, variables, tags, operators
MAX_NESTING = 40  # tags and expressions inside one another
MAX_TEXT = 100_000  # characters of any text made, printed or not
MAX_ITEMS = 10_000  # items of any list, tuple or dictionary made
MAX_DIGITS = 300  # digits of any number made
MAX_INT_BITS = math.floor(MAX_DIGITS * math.log2(10))
MAX_NUMBER_ARGUMENT = 10_000  # a width, count or range end passed to a filter or method
# Work done while rendering.
MAX_LOOP_ITEMS = 10_000  # loop iterations in all, nested and recursive loops included
MAX_CALL_DEPTH = 20  # macros and recursive loops calling one another
MAX_STEPS = 1_000_000  # operations, calls, attribute look-ups, loop iterations, output pieces
MAX_SECONDS = 1.0  # wall-clock time of one render
MAX_VALUE_NESTING = 20  # lists inside lists

# A float prints in at most this many characters with no precision given.
_FLOAT_CHARS = 330
_SHORT = "templates are for short messages"


def text_too_long() -> TemplateTooBig:
    return TemplateTooBig(f"the template builds text longer than {MAX_TEXT:,} characters; {_SHORT}")


def too_many_items() -> TemplateTooBig:
    return TemplateTooBig(f"the template builds a list of more than {MAX_ITEMS:,} items; {_SHORT}")


def number_too_long() -> TemplateTooBig:
    return TemplateTooBig(f"the template makes a number longer than {MAX_DIGITS} digits; {_SHORT}")


def number_argument_too_large(value: int) -> TemplateTooBig:
    return TemplateTooBig(
        f"the template asks for {value:,} where at most {MAX_NUMBER_ARGUMENT:,} is allowed "
        f"(a width, a count or a range); {_SHORT}"
    )


def nested_too_deep() -> TemplateTooComplex:
    return TemplateTooComplex(
        f"the template calls its macros or loops more than {MAX_CALL_DEPTH} levels deep"
    )


# --- the budget of one render -----------------------------------------------------------------


class Budget:
    """What one render may still spend: steps, loop iterations, call depth and time."""

    __slots__ = ("deadline", "steps", "loop_items", "depth")

    def __init__(self, seconds: float = MAX_SECONDS) -> None:
        self.deadline = time.monotonic() + seconds
        self.steps = 0
        self.loop_items = 0
        self.depth = 0

    def spend(self, steps: int = 1) -> None:
        """:raise TemplateTooComplex, TemplateTooSlow: once the budget is spent."""
        self.steps += steps
        if self.steps > MAX_STEPS:
            raise TemplateTooComplex(
                f"the template does more than {MAX_STEPS:,} steps of work; {_SHORT}"
            )
        if time.monotonic() > self.deadline:
            raise TemplateTooSlow(
                f"the template took longer than {MAX_SECONDS:g} second to fill in; "
                f"{_SHORT}, so it must not loop or repeat this much"
            )

    def loop_item(self) -> None:
        self.loop_items += 1
        if self.loop_items > MAX_LOOP_ITEMS:
            raise TemplateTooComplex(
                f"the template repeats its loops more than {MAX_LOOP_ITEMS:,} times in all; "
                f"{_SHORT}"
            )
        self.spend()

    @contextmanager
    def deeper(self) -> Iterator[None]:
        self.depth += 1
        try:
            if self.depth > MAX_CALL_DEPTH:
                raise nested_too_deep()
            yield
        finally:
            self.depth -= 1


_active: ContextVar[Budget | None] = ContextVar("template_budget", default=None)


@contextmanager
def rendering(seconds: float = MAX_SECONDS) -> Iterator[Budget]:
    """Give the renders inside this block one budget; a nested block shares the outer one."""
    outer = _active.get()
    if outer is not None:
        yield outer
        return
    budget = Budget(seconds)
    token = _active.set(budget)
    try:
        yield budget
    finally:
        _active.reset(token)


def budget() -> Budget:
    """The active render's budget; outside a render (Jinja folding a constant), an untimed one."""
    active = _active.get()
    return active if active is not None else Budget(seconds=math.inf)


def spend(steps: int = 1) -> None:
    budget().spend(steps)


def counted(iterable: Iterable[Any]) -> Iterator[Any]:
    """Iterate, spending one loop iteration of the render's budget per item."""
    current = budget()
    for item in iterable:
        current.loop_item()
        yield item


# --- sizes of values --------------------------------------------------------------------------


def printed_size(value: Any, limit: int = MAX_TEXT) -> int:
    """About how many characters `value` prints as, counting no further than past `limit`.

    A list may hold the same big text many times over, and printing it would build
    all of that; this adds up sizes instead, once for each distinct list, stopping
    as soon as the count passes `limit`, and spends from the budget as it goes.

    :raise TemplateTooComplex: for lists nested deeper than MAX_VALUE_NESTING.
    """
    known: dict[int, int] = {}
    current = budget()

    def size(item: Any, depth: int) -> int:
        kind = type(item)
        if kind is str:
            return len(item) + 4
        if kind is int:
            return int(item.bit_length()) // 3 + 2
        if isinstance(item, str):
            return len(item) + 4
        if isinstance(item, bool) or item is None:
            return 5
        if isinstance(item, int):
            return item.bit_length() // 3 + 2
        if isinstance(item, float):
            return 25
        if isinstance(item, bytes | bytearray):
            return 4 * len(item) + 4
        if isinstance(item, Namespace):
            item = object.__getattribute__(item, "_Namespace__attrs")
        elif not isinstance(item, list | tuple | dict | set | frozenset | Mapping):
            return 100  # Jinja's own objects (a loop, a macro) print a short description
        if id(item) in known:
            return known[id(item)]
        if depth >= MAX_VALUE_NESTING:
            raise TemplateTooComplex(
                f"the template puts lists inside lists more than {MAX_VALUE_NESTING} deep"
            )
        current.spend(1 + len(item) // 1_000)
        total = 2
        entries = (
            (part for pair in item.items() for part in pair)
            if isinstance(item, Mapping)
            else iter(item)
        )
        for entry in entries:
            kind = type(entry)
            if kind is str:  # the common case, without a call
                total += len(entry) + 6
            else:
                total += size(entry, depth + 1) + 2
            if total > limit:
                break
        known[id(item)] = total
        return total

    return size(value, 0)


def check_made(value: Any) -> Any:
    """Return `value` when it is within the limits of anything a template makes.

    :raise TemplateTooBig: for text, lists or numbers beyond their limits.
    """
    if isinstance(value, str | bytes):
        if len(value) > MAX_TEXT:
            raise text_too_long()
    elif isinstance(value, int):
        if value.bit_length() > MAX_INT_BITS:
            raise number_too_long()
    elif isinstance(value, list | tuple | Mapping | set | frozenset | Namespace):
        if not isinstance(value, Namespace) and len(value) > MAX_ITEMS:
            raise too_many_items()
        check_printable(value)
    return value


def check_printable(value: Any) -> None:
    """:raise TemplateTooBig: when printing `value` would make text beyond MAX_TEXT."""
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise text_too_long()
    elif isinstance(value, int | float | bool) or value is None:
        check_made(value)
    elif printed_size(value) > MAX_TEXT:
        raise text_too_long()


def _length(value: Any) -> int:
    return printed_size(value) if not isinstance(value, str | bytes) else len(value)


def check_number_arguments(values: Iterable[Any]) -> None:
    """:raise TemplateTooBig: for a number too large to be a width, count or range."""
    for value in values:
        if isinstance(value, int) and abs(value) > MAX_NUMBER_ARGUMENT:
            raise number_argument_too_large(value)


def check_estimate(characters: int) -> None:
    if characters > MAX_TEXT:
        raise text_too_long()


# --- operators --------------------------------------------------------------------------------


def _as_count(value: Any) -> int | None:
    return value if isinstance(value, int) else None


def check_repeat(left: Any, right: Any) -> None:
    """`left * right`: numbers by their digits, text and lists by their length."""
    if isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > MAX_INT_BITS + 1:
            raise number_too_long()
        return
    count, sequence = (right, left) if _as_count(right) is not None else (left, right)
    if not isinstance(count, int) or count <= 0:
        return
    if isinstance(sequence, str | bytes):
        check_estimate(len(sequence) * count)
    elif isinstance(sequence, list | tuple):
        if len(sequence) * count > MAX_ITEMS:
            raise too_many_items()
        check_estimate(printed_size(sequence) * count)


def check_power(base: Any, exponent: Any) -> None:
    """`base ** exponent`: refused when the result would have too many digits."""
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0:
        if abs(base) > 1 and (abs(base).bit_length() - 1) * exponent > MAX_INT_BITS:
            raise number_too_long()
    elif isinstance(exponent, int) and abs(exponent) > MAX_INT_BITS:
        # A float power overflows quickly; a huge exponent is never meant.
        raise number_too_long()


def check_addition(left: Any, right: Any) -> None:
    """`left + right`: text and lists by their combined length."""
    if isinstance(left, str | bytes) and isinstance(right, str | bytes):
        check_estimate(len(left) + len(right))
    elif isinstance(left, list | tuple) and isinstance(right, list | tuple):
        if len(left) + len(right) > MAX_ITEMS:
            raise too_many_items()


# --- format strings ---------------------------------------------------------------------------

_PERCENT_FIELD = re.compile(
    r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d*))?[hlL]?([a-zA-Z%])", re.ASCII
)
_DIGITS = re.compile(r"\d+", re.ASCII)


def _width(digits: str) -> int:
    """A width or precision written in a format; far too long ones are refused unread."""
    if len(digits) > 7:
        raise text_too_long()
    return int(digits) if digits else 0


def _dynamic_width() -> TemplateError:
    return TemplateError(
        "the template takes a width from a value ('*' or a nested {}); write widths as numbers"
    )


def check_percent_format(template: str | bytes, arguments: Any) -> None:
    """`template % arguments` and the `format` filter: refuse widths that make huge text."""
    text = template.decode("latin-1") if isinstance(template, bytes) else template
    per_field = _length(arguments) + _FLOAT_CHARS
    estimate = len(text)
    for field in _PERCENT_FIELD.finditer(text):
        width, precision, kind = field.groups()
        if kind == "%":
            continue
        if width == "*" or precision == "*":
            raise _dynamic_width()
        estimate += _width(width or "") + _width(precision or "") + per_field
        check_estimate(estimate)


def check_brace_format(template: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """`str.format` and `format_map`: refuse widths that make huge text."""
    per_field = max((_length(value) for value in (*args, *kwargs.values())), default=0)
    estimate = len(template)
    for _literal, field, spec, _conversion in string.Formatter().parse(template):
        if field is None:
            continue
        spec = spec or ""
        if "{" in spec:
            raise _dynamic_width()
        estimate += sum(_width(digits) for digits in _DIGITS.findall(spec))
        estimate += per_field + _FLOAT_CHARS
        check_estimate(estimate)


# --- filters and methods that can grow text ---------------------------------------------------


def as_text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def estimate_indent(text: Any, width: Any = 4) -> None:
    step = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    source = as_text(text)
    check_estimate(len(source) + (source.count("\n") + 1) * step)


def estimate_wordwrap(text: Any, width: Any = 79, wrapstring: Any = None) -> None:
    source = as_text(text)
    columns = width if isinstance(width, int) and width > 0 else 1
    breaks = len(source.split()) + source.count("\n") + len(source) // columns + 1
    check_estimate(len(source) + breaks * len(as_text(wrapstring or "\n")))


def estimate_replace(text: Any, old: Any, new: Any, count: Any = None) -> None:
    source, old, new = as_text(text), as_text(old), as_text(new)
    occurrences = len(source) + 1 if old == "" else source.count(old)
    if isinstance(count, int) and count >= 0:
        occurrences = min(occurrences, count)
    check_estimate(len(source) + occurrences * len(new))


def estimate_join(items: list[Any], separator: Any = "") -> None:
    if len(items) > MAX_ITEMS:
        raise too_many_items()
    total = len(as_text(separator)) * max(0, len(items) - 1)
    for item in items:
        total += _length(item)
        check_estimate(total)


def estimate_center(text: Any, width: Any = 80, *_: Any) -> None:
    check_estimate(max(_length(text), width if isinstance(width, int) else 0))


def estimate_expandtabs(text: Any, tabsize: Any = 8) -> None:
    source = as_text(text)
    check_estimate(len(source) + source.count("\t") * (tabsize if isinstance(tabsize, int) else 8))


def estimate_translate(text: Any, table: Any) -> None:
    longest = 1
    if isinstance(table, Mapping):
        longest = max((len(v) for v in table.values() if isinstance(v, str)), default=1)
    check_estimate(len(as_text(text)) * max(1, longest))


def estimate_lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> None:
    del html, min
    check_estimate(n * max * 12)


def refuse_sum_of_text(start: Any) -> None:
    if not isinstance(start, int | float):
        raise TemplateError(
            "the template uses sum on something other than numbers; use join for text"
        )


# Keyword names of the estimates above, by the string or bytes method they stand for.
METHOD_ESTIMATES: dict[str, Callable[..., None]] = {
    "center": estimate_center,
    "ljust": estimate_center,
    "rjust": estimate_center,
    "zfill": estimate_center,
    "expandtabs": estimate_expandtabs,
    "replace": estimate_replace,
    "translate": estimate_translate,
}


# --- the parsed template ----------------------------------------------------------------------

_STANDALONE_ONLY = (nodes.Include, nodes.Extends, nodes.Import, nodes.FromImport)


def check_source(source: str) -> None:
    """:raise TemplateTooComplex: for a template text beyond MAX_SOURCE characters."""
    if len(source) > MAX_SOURCE:
        raise TemplateTooComplex(f"the template is longer than {MAX_SOURCE:,} characters; {_SHORT}")


def check_tree(tree: nodes.Template) -> None:
    """Refuse a parsed template with too many parts, too deep, or reaching for other files.

    :raise TemplateTooComplex, TemplateTooBig, TemplateError: saying which.
    """
    count = 0
    stack: list[tuple[nodes.Node, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise TemplateTooComplex(
                f"the template has more than {MAX_NODES:,} parts (text, variables, tags and "
                f"operators); {_SHORT}"
            )
        if depth > MAX_NESTING:
            raise TemplateTooComplex(
                f"the template puts tags or expressions inside one another more than "
                f"{MAX_NESTING} deep"
            )
        if isinstance(node, _STANDALONE_ONLY):
            raise TemplateError(
                "the template includes or extends another template; each template here stands alone"
            )
        if isinstance(node, nodes.Const):
            check_made(node.value)
        stack.extend((child, depth + 1) for child in node.iter_child_nodes())
