"""The helpers of outreach.rules.template_limits, one by one."""

from __future__ import annotations

import time
from contextlib import ExitStack

import pytest
from jinja2 import nodes
from jinja2.sandbox import SandboxedEnvironment

from outreach.errors import TemplateError, TemplateTooBig, TemplateTooComplex, TemplateTooSlow
from outreach.rules import template_limits as limits


def test_printed_size_counts_a_shared_list_by_what_it_prints() -> None:
    text = "x" * 1_000
    once = [text]
    many = [once] * 50

    assert limits.printed_size(once) == pytest.approx(len(str(once)), abs=10)
    assert limits.printed_size(many) >= 50 * 1_000


def test_printed_size_stops_counting_past_the_limit() -> None:
    nested: list[object] = ["x" * 1_000]
    for _ in range(19):
        nested = [nested, nested]  # would print 2**19 thousand characters

    started = time.monotonic()
    size = limits.printed_size(nested, limit=10_000)

    assert 10_000 < size < 100_000
    assert time.monotonic() - started < 0.1


def test_printed_size_refuses_lists_nested_too_deep() -> None:
    nested: list[object] = []
    for _ in range(limits.MAX_VALUE_NESTING + 1):
        nested = [nested]
    with pytest.raises(TemplateTooComplex, match="lists inside lists"):
        limits.printed_size(nested)


def test_check_made_bounds_text_lists_and_numbers() -> None:
    assert limits.check_made("x" * limits.MAX_TEXT) == "x" * limits.MAX_TEXT
    with pytest.raises(TemplateTooBig, match="text longer than 100,000 characters"):
        limits.check_made("x" * (limits.MAX_TEXT + 1))
    with pytest.raises(TemplateTooBig, match="more than 10,000 items"):
        limits.check_made([0] * (limits.MAX_ITEMS + 1))
    assert limits.check_made(10**299) == 10**299
    with pytest.raises(TemplateTooBig, match="longer than 300 digits"):
        limits.check_made(10**301)


@pytest.mark.parametrize(
    ("left", "right"),
    [("x" * 1_000, 101), (101, "x" * 1_000), (b"x", 100_001), ([1] * 100, 101), (2**600, 2**600)],
)
def test_check_repeat_refuses_what_would_be_too_big(left: object, right: object) -> None:
    with pytest.raises(TemplateTooBig):
        limits.check_repeat(left, right)


@pytest.mark.parametrize(
    ("left", "right"), [("x" * 1_000, 100), ([1, 2], 5_000), (3, 4), (2**400, 2**400), (1.5, 2)]
)
def test_check_repeat_lets_ordinary_repetition_through(left: object, right: object) -> None:
    limits.check_repeat(left, right)


def test_check_power_bounds_the_digits_of_the_result() -> None:
    limits.check_power(2, 900)
    limits.check_power(1, 10**9)
    limits.check_power(10, -5)
    with pytest.raises(TemplateTooBig):
        limits.check_power(2, 1_000)
    with pytest.raises(TemplateTooBig):
        limits.check_power(2.0, 100_000)


def test_check_addition_bounds_text_and_lists() -> None:
    limits.check_addition("x" * 50_000, "y" * 50_000)
    with pytest.raises(TemplateTooBig):
        limits.check_addition("x" * 50_000, "y" * 50_001)
    with pytest.raises(TemplateTooBig):
        limits.check_addition([1] * 5_000, [1] * 5_001)


@pytest.mark.parametrize("template", ["%100001s", "%.100001f", "%(a)200000d", "%5s" * 300])
def test_percent_format_widths_are_bounded(template: str) -> None:
    with pytest.raises(TemplateTooBig):
        limits.check_percent_format(template, ("x",))


def test_percent_format_allows_ordinary_widths_and_refuses_a_star() -> None:
    limits.check_percent_format("%05.1f%% of %s", (3.14, "x"))
    with pytest.raises(TemplateError, match="write widths as numbers"):
        limits.check_percent_format("%*d", (5, 1))


def test_brace_format_widths_and_repeated_fields_are_bounded() -> None:
    limits.check_brace_format("{:>8}|{name:^20}", ("x",), {"name": "y"})
    with pytest.raises(TemplateTooBig):
        limits.check_brace_format("{:>100001}", (1,), {})
    with pytest.raises(TemplateTooBig):
        limits.check_brace_format("{0}" * 3, ("x" * 40_000,), {})
    with pytest.raises(TemplateError, match="write widths as numbers"):
        limits.check_brace_format("{:{}}", (1, 5), {})


def test_estimates_of_growing_filters_and_methods() -> None:
    limits.estimate_indent("a\nb\nc", 4)
    with pytest.raises(TemplateTooBig):
        limits.estimate_indent("\n" * 20_000, 10)
    limits.estimate_wordwrap("a " * 1_000, 10, "\n")
    with pytest.raises(TemplateTooBig):
        limits.estimate_wordwrap("a " * 1_000, 1, "y" * 100)
    limits.estimate_replace("abc", "b", "xyz")
    with pytest.raises(TemplateTooBig):
        limits.estimate_replace("x" * 1_000, "", "y" * 100)
    limits.estimate_replace("x" * 1_000, "", "y" * 100, count=3)
    with pytest.raises(TemplateTooBig):
        limits.estimate_join(["a"] * 1_000, "," * 100)
    with pytest.raises(TemplateTooBig):
        limits.estimate_join(["a"] * (limits.MAX_ITEMS + 1))
    with pytest.raises(TemplateTooBig):
        limits.estimate_expandtabs("\t" * 1_000, 1_000)
    with pytest.raises(TemplateTooBig):
        limits.estimate_translate("x" * 1_000, {120: "y" * 1_000})
    with pytest.raises(TemplateTooBig):
        limits.estimate_center("x", limits.MAX_TEXT + 1)
    with pytest.raises(TemplateTooBig):
        limits.estimate_lipsum(100, max=1_000)


def test_number_arguments_are_bounded() -> None:
    limits.check_number_arguments([10_000, -10_000, "x" * 20_000, 1.5e9])
    with pytest.raises(TemplateTooBig, match="asks for 10,001 where at most 10,000"):
        limits.check_number_arguments([10_001])


def test_the_budget_counts_steps_loops_depth_and_time() -> None:
    budget = limits.Budget()
    budget.spend(limits.MAX_STEPS)
    with pytest.raises(TemplateTooComplex, match="steps of work"):
        budget.spend()

    budget = limits.Budget()
    for _ in range(limits.MAX_LOOP_ITEMS):
        budget.loop_item()
    with pytest.raises(TemplateTooComplex, match="repeats its loops more than 10,000 times"):
        budget.loop_item()

    budget = limits.Budget()
    with ExitStack() as levels:
        for _ in range(limits.MAX_CALL_DEPTH):
            levels.enter_context(budget.deeper())
        with pytest.raises(TemplateTooComplex, match="more than 20 levels deep"):
            levels.enter_context(budget.deeper())
    assert budget.depth == 0

    budget = limits.Budget(seconds=0.01)
    time.sleep(0.02)
    with pytest.raises(TemplateTooSlow, match="longer than 1 second"):
        budget.spend()


def test_nested_renders_share_one_budget_and_leave_none_behind() -> None:
    with limits.rendering() as outer:
        with limits.rendering() as inner:
            assert inner is outer
            limits.spend(5)
        assert outer.steps == 5
    assert limits.budget() is not outer


def test_counted_spends_a_loop_iteration_per_item() -> None:
    with limits.rendering() as budget:
        assert list(limits.counted("abc")) == ["a", "b", "c"]
    assert budget.loop_items == 3


def _tree(source: str) -> nodes.Template:
    return SandboxedEnvironment().parse(source)


def test_check_tree_refuses_too_many_parts_too_deep_and_other_files() -> None:
    limits.check_tree(_tree("Hello {{ first_name }}{% if x %}, {{ x }}{% endif %}"))
    with pytest.raises(TemplateTooComplex, match="more than 5,000 parts"):
        limits.check_tree(_tree("{{ a }}" * 6_000))
    with pytest.raises(TemplateTooComplex, match="more than 40 deep"):
        limits.check_tree(_tree("{% if 1 %}" * 45 + "x" + "{% endif %}" * 45))
    with pytest.raises(TemplateError, match="stands alone"):
        limits.check_tree(_tree("{% extends 'base' %}"))
    with pytest.raises(TemplateTooBig, match="300 digits"):
        limits.check_tree(_tree("{{ " + "9" * 400 + " }}"))


def test_check_source_bounds_the_template_text() -> None:
    limits.check_source("x" * limits.MAX_SOURCE)
    with pytest.raises(TemplateTooComplex, match="longer than 20,000 characters"):
        limits.check_source("x" * (limits.MAX_SOURCE + 1))
