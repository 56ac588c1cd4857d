"""Filling a template with its missing values said in words (rules.templates.with_gaps)."""

from __future__ import annotations

import pytest

from outreach.errors import MissingVariable, TemplateError
from outreach.rules import template_gaps, templates

BODY = (
    "Dear {{ first_name }}, "
    "{% if referrer_name %}{{ referrer_name }}{% else %}{{ how_found }}{% endif %}."
)


def gap(name: str) -> str:
    return template_gaps.gap_text(name, "Dana", "Dana Reyes")


def fill(source: str, values: dict[str, str]) -> tuple[str, list[str]]:
    return templates.with_gaps(lambda known: templates.render_text(source, known), values, gap)


def test_a_missing_value_becomes_its_words_and_its_name_is_kept() -> None:
    values = {"first_name": "Dana", "referrer_name": "", "how_found": ""}

    assert fill(BODY, values) == ("Dear Dana, [how you found Dana].", ["how_found"])


def test_a_value_behind_a_false_test_is_not_needed() -> None:
    values = {"first_name": "Dana", "referrer_name": "Kim", "how_found": ""}

    assert fill(BODY, values) == ("Dear Dana, Kim.", [])


def test_several_gaps_are_named_in_the_order_met() -> None:
    values = {"first_name": "", "referrer_name": "", "how_found": ""}

    text, missing = fill(BODY, values)

    assert text == "Dear [the first name of Dana Reyes], [how you found Dana]."
    assert missing == ["first_name", "how_found"]


def test_an_unknown_variable_is_still_an_error_not_a_gap() -> None:
    with pytest.raises(MissingVariable, match="frist_name"):
        fill("Dear {{ frist_name }}", {"first_name": "Dana"})


def test_a_broken_template_is_still_an_error() -> None:
    with pytest.raises(TemplateError, match="line 1"):
        fill("Dear {% if %}", {})


def test_the_words_fall_back_to_the_full_name_and_to_this_person() -> None:
    assert template_gaps.words_for("how_found", "", "Dana Reyes") == "how you found Dana Reyes"
    assert template_gaps.words_for("role", "", "") == "this person's role"
    assert template_gaps.needs_sentence(["role", "organisation", "how_found"], "Dana", "D R") == (
        "it needs Dana's role, where Dana works and how you found Dana"
    )
    assert [q.name for q in template_gaps.questions(["my_introduction", "role"], "Dana", "")] == [
        "role"
    ]
