"""Jinja's sandbox with every hook held to the limits of `template_limits`.

Jinja renders in Python and calls the environment for each operator it is told
to intercept, each call, attribute and item look-up, and each printed value;
those hooks check sizes before anything grows and spend from the render's
budget, which also watches the clock. What has no hook is given one: before a
parsed template is compiled, each loop's iterable, each `~` and each list,
tuple or dictionary written in the template is wrapped in an internal filter
that checks it.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Mapping
from types import BuiltinMethodType
from typing import Any

from jinja2 import nodes
from jinja2.nodes import EvalContext
from jinja2.runtime import LoopContext, Macro, markup_join
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import generate_lorem_ipsum, pass_eval_context
from jinja2.visitor import NodeTransformer

from outreach.rules import template_limits as limits

_LOOP_ITEMS = "_outreach_loop_items"
_CONCAT = "_outreach_concat"
_MADE = "_outreach_made"


def _node_count(node: nodes.Node) -> int:
    return 1 + sum(_node_count(child) for child in node.iter_child_nodes())


def _internal(node: nodes.Node, name: str, *args: nodes.Expr) -> nodes.Filter:
    return nodes.Filter(node, name, list(args), [], None, None, lineno=node.lineno)


class _Guards(NodeTransformer):
    """Wrap what Jinja compiles without a hook in a checking filter."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        # Each pass through the loop costs about as many steps as its body has parts,
        # so a long body cannot be repeated as often as a short one.
        cost = sum(_node_count(child) for child in node.body)
        node.iter = _internal(node.iter, _LOOP_ITEMS, nodes.Const(cost))
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _internal(nodes.Tuple(list(node.nodes), "load", lineno=node.lineno), _CONCAT)

    def _made(self, node: nodes.Expr) -> nodes.Node:
        self.generic_visit(node)
        return _internal(node, _MADE)

    visit_List = _made
    visit_Dict = _made

    def visit_Tuple(self, node: nodes.Tuple) -> nodes.Node:
        return self._made(node) if node.ctx == "load" else self.generic_visit(node)


def guard(tree: nodes.Template) -> nodes.Template:
    """Return the parsed template with its loops, `~` and literals checked (in place)."""
    guarded = _Guards().visit(tree)
    assert isinstance(guarded, nodes.Template) and tree.environment is not None
    guarded.set_environment(tree.environment)
    return guarded


def _loop_items(iterable: Iterable[Any], cost: int = 1) -> Iterable[Any]:
    budget = limits.budget()
    for item in iterable:
        budget.loop_item()
        budget.spend(cost)
        yield item


@pass_eval_context
def _concat(eval_ctx: EvalContext, pieces: tuple[Any, ...]) -> str:
    total = 0
    for piece in pieces:
        limits.check_printable(piece)
        total += len(str(piece))
        limits.check_estimate(total)
    return markup_join(pieces) if eval_ctx.autoescape else "".join(map(str, pieces))


def _checked_join(pieces: Iterable[str]) -> str:
    """Join a block's captured output (a macro, `{% set %}...{% endset %}`), within limits."""
    texts = list(pieces)
    limits.check_estimate(sum(map(len, texts)))
    return "".join(texts)


def _range(*args: int) -> range:
    limits.check_number_arguments(args)
    numbers = range(*args)
    if len(numbers) > limits.MAX_LOOP_ITEMS:
        raise limits.number_argument_too_large(len(numbers))
    return numbers


def _lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    limits.estimate_lipsum(n, html, min, max)
    return generate_lorem_ipsum(n, html, min, max)


# What a filter would make, estimated before it runs, from its arguments by name.
_FILTER_ESTIMATES: dict[str, Callable[[Mapping[str, Any]], None]] = {
    "center": lambda a: limits.estimate_center(a["value"], a["width"]),
    "indent": lambda a: limits.estimate_indent(a["s"], a["width"]),
    "wordwrap": lambda a: limits.estimate_wordwrap(a["s"], a["width"], a["wrapstring"]),
    "replace": lambda a: limits.estimate_replace(a["s"], a["old"], a["new"], a["count"]),
    "format": lambda a: limits.check_percent_format(
        limits.as_text(a["value"]), a["kwargs"] or a["args"]
    ),
    "sum": lambda a: limits.refuse_sum_of_text(a["start"]),
}


# Filters that never turn a list they are given into text: they need not measure it.
_LIST_FILTERS = frozenset(
    "attr batch count d default dictsort first groupby items join last length list map max min "
    "random reject rejectattr reverse select selectattr slice sort sum unique".split()
)


def _guarded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """`function` spending a step, its widths and counts bounded, its result checked."""
    injected = 1 if hasattr(function, "jinja_pass_arg") else 0
    estimate = _FILTER_ESTIMATES.get(name)
    signature = inspect.signature(function)

    @functools.wraps(function)  # keeps Jinja's pass_context/pass_environment marks
    def guarded(*args: Any, **kwargs: Any) -> Any:
        limits.spend()
        given = args[injected:]
        limits.check_number_arguments((*given[1:], *kwargs.values()))
        if given and name not in _LIST_FILTERS:
            limits.check_printable(given[0])
        if name == "join" and given:
            items = list(given[0])
            limits.estimate_join(items, given[1] if len(given) > 1 else kwargs.get("d", ""))
            args = (*args[:injected], items, *given[1:])
        elif estimate is not None:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            estimate(bound.arguments)
        return limits.check_made(function(*args, **kwargs))

    return guarded


def _checked_method_arguments(method: Any, args: tuple[Any, ...], kwargs: Any) -> tuple[Any, ...]:
    """Estimate what a text method would make; `join` gets its items as a list."""
    if not isinstance(method, BuiltinMethodType):
        return args
    owner = method.__self__
    if not isinstance(owner, str | bytes):
        return args
    if method.__name__ == "join" and args:
        items = list(args[0])
        limits.estimate_join(items, owner)
        return (items, *args[1:])
    estimate = limits.METHOD_ESTIMATES.get(method.__name__)
    if estimate is not None:
        estimate(owner, *args, **kwargs)
    return args


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with every hook checked against `template_limits`.

    Immutable: a template cannot grow a list in place (`items.append(items)`).
    """

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, finalize: Callable[[Any], Any], **options: Any) -> None:
        def checked_finalize(value: Any) -> Any:
            limits.spend()
            limits.check_printable(value)
            return finalize(value)

        super().__init__(finalize=checked_finalize, **options)
        self.concat = _checked_join  # type: ignore[method-assign]
        self.globals["range"] = _range
        self.globals["lipsum"] = _lipsum
        self.filters = {name: _guarded_filter(name, f) for name, f in self.filters.items()}
        self.filters[_LOOP_ITEMS] = _loop_items
        self.filters[_CONCAT] = _concat
        self.filters[_MADE] = limits.check_made

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        limits.spend()
        if operator == "*":
            limits.check_repeat(left, right)
        elif operator == "**":
            limits.check_power(left, right)
        elif operator == "+":
            limits.check_addition(left, right)
        elif isinstance(left, str | bytes):  # "%": formatting, not the remainder
            limits.check_percent_format(left, right)
        return limits.check_made(super().call_binop(context, operator, left, right))

    def getattr(self, obj: Any, attribute: str) -> Any:
        limits.spend()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        limits.spend()
        return super().getitem(obj, argument)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        formatter = super().wrap_str_format(value)
        if formatter is None:
            return None
        template: str = value.__self__
        is_format_map = value.__name__ == "format_map"

        @functools.wraps(formatter)
        def checked(*args: Any, **kwargs: Any) -> str:
            if is_format_map and args and isinstance(args[0], Mapping):
                limits.check_brace_format(template, (), args[0])
            else:
                limits.check_brace_format(template, args, kwargs)
            return str(limits.check_made(formatter(*args, **kwargs)))

        checked.outreach_checks_itself = True  # type: ignore[attr-defined]
        return checked

    def call(self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        budget = limits.budget()
        budget.spend()
        if isinstance(__obj, LoopContext):
            # `loop(children)` in a recursive loop: its items are loop iterations too.
            if args:
                args = (limits.counted(args[0]), *args[1:])
        elif not isinstance(__obj, Macro) and not hasattr(__obj, "outreach_checks_itself"):
            limits.check_number_arguments((*args, *kwargs.values()))
        args = _checked_method_arguments(__obj, args, kwargs)
        with budget.deeper():
            result = super().call(__context, __obj, *args, **kwargs)
        return limits.check_made(result)
