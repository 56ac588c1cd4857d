import pytest

from outreach.errors import MissingVariable, TemplateError
from outreach.rules.templates import VARIABLES, load_default, render, render_text

FULL = {name: f"<{name}>" for name in VARIABLES}


def values(**overrides: str) -> dict[str, str]:
    return {**FULL, **overrides}


def test_every_default_template_renders_with_all_variables() -> None:
    for kind in ("request", "follow_up", "confirmation", "thank_you", "keep_in_touch"):
        subject, body = load_default(kind)
        rendered = render(subject, body, values())
        assert rendered.subject and "{{" not in rendered.body


def test_default_request_asks_for_20_to_30_minutes_and_not_a_job() -> None:
    body = render(*load_default("request"), values(referrer_name="")).body
    assert "20 to 30 minutes" in body
    assert "not for a job" in body
    assert "<how_found>" in body


def test_referral_replaces_how_found_in_the_request() -> None:
    body = render(*load_default("request"), values(referrer_name="Dana Lee", how_found="")).body
    assert "Dana Lee suggested I get in touch" in body


def test_empty_variable_is_refused_with_its_name_and_the_contact() -> None:
    with pytest.raises(MissingVariable) as caught:
        render("Hi", "Dear {{ first_name }},", values(first_name="  "), contact="Ann Lee")
    assert caught.value.variable == "first_name"
    assert "Ann Lee" in str(caught.value)


def test_unknown_variable_is_refused() -> None:
    with pytest.raises(MissingVariable, match="nickname"):
        render_text("Hi {{ nickname }}", values())


def test_empty_variable_inside_a_false_condition_is_fine() -> None:
    text = render_text(
        "{% if referrer_name %}{{ referrer_name }} sent me.{% endif %}ok", values(referrer_name="")
    )
    assert text == "ok"


def test_sandbox_blocks_python_internals() -> None:
    with pytest.raises(TemplateError, match="not allowed"):
        render_text("{{ first_name.__class__.__mro__ }}", values())


def test_syntax_error_names_the_line() -> None:
    with pytest.raises(TemplateError, match="line 2"):
        render_text("Hello\n{{ first_name ", values())


def test_subject_is_folded_to_one_line() -> None:
    assert render("A\n{{ target }}\r\nB", "x", values(target="T")).subject == "A T B"


def test_a_template_cannot_build_a_huge_text() -> None:
    for source in (
        "{{ 'x' * 10**8 }}",
        "{{ 'x' * 100000000 }}",
        "{{ first_name | center(100000000) }}",
        "{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}",
    ):
        with pytest.raises(TemplateError):
            render_text(source, values())


def test_ordinary_arithmetic_and_filters_still_work() -> None:
    assert render_text("{{ 3 * 4 }} {{ 'ab' * 2 }} {{ target | upper }}", values(target="x")) == (
        "12 abab X"
    )


def test_sandbox_message_speaks_of_text_not_internal_types() -> None:
    with pytest.raises(TemplateError) as caught:
        render_text("{{ first_name.__class__ }}", values())
    assert "_NamedValue" not in str(caught.value)
