"""Hostile templates (issue 16, item 1): each is refused quickly, in a sentence, in little memory.

Every template here was written to exhaust the web process: memory bombs through
each operator and filter that can grow a value, CPU loops, deep recursion, huge
numbers, format widths and attribute tricks. Each must be refused with the right
error within 1.5 s, without the render allocating more than 100 MB, and through
the dashboard's preview and save with the sentence on the page, never a 500.
"""

from __future__ import annotations

import time
import tracemalloc

import pytest
from sqlalchemy.orm import Session

from outreach import targets
from outreach.errors import (
    TemplateError,
    TemplateTooBig,
    TemplateTooComplex,
    TemplateTooSlow,
)
from outreach.models import MessageKind, Template, User
from outreach.rules.templates import VARIABLES, render_text
from tests.conftest import NOW
from tests.factories import make_contact
from tests.web import conftest as web
from tests.web.conftest import Browser

# The dashboard's fixtures, for the preview and save through the web routes.
app, client, browser, user, signed_in = web.app, web.client, web.browser, web.user, web.signed_in

VALUES = {name: f"sample {name}" for name in VARIABLES}
BIG = 100 * 1024 * 1024
NESTED_FORS = "".join(f"{{% for i{n} in [1] %}}" for n in range(25)) + "x" + "{% endfor %}" * 25

HOSTILE: list[tuple[str, str, type[TemplateError]]] = [
    # Memory: every operator that can grow a value.
    ("issue-repeat", "{% set a='x'*10000 %}{% set b=a*10000 %}{% set c=b*10 %}", TemplateTooBig),
    ("repeat-power", "{{ 'x' * 10**8 }}", TemplateTooBig),
    ("repeat-bytes", "{{ 'x'.encode() * 100000000 }}", TemplateTooBig),
    ("repeat-list", "{% set a = ['x' * 100000] %}{{ a * 10000 }}", TemplateTooBig),
    (
        "square-loop",
        "{% set ns = namespace(n=3) %}{% for i in range(40) %}"
        "{% set ns.n = ns.n * ns.n %}{% endfor %}{{ ns.n }}",
        TemplateTooBig,
    ),
    ("power", "{{ 2 ** 100000 }}", TemplateTooBig),
    ("float-power", "{{ 2.0 ** 100000 }}", TemplateTooBig),
    (
        "tilde-doubling",
        "{% set ns = namespace(s='xx') %}{% for i in range(40) %}"
        "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
        TemplateTooBig,
    ),
    (
        "plus-doubling",
        "{% set ns = namespace(s='xx') %}{% for i in range(40) %}"
        "{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s }}",
        TemplateTooBig,
    ),
    ("tilde-many", "{% set s = 'x' * 90000 %}{{ s ~ s ~ s ~ s }}", TemplateTooBig),
    ("percent-width", "{{ '%100000000d' % 1 }}", TemplateTooBig),
    ("percent-precision", "{{ '%.100000000f' % 1.5 }}", TemplateTooBig),
    ("percent-star", "{{ '%*d' % (100000000, 1) }}", TemplateError),
    ("format-width", "{{ '{:>100000000}'.format(1) }}", TemplateTooBig),
    ("format-nested-width", "{{ '{:{}}'.format(1, 100000000) }}", TemplateError),
    ("format-repeat-field", "{{ '{0}{0}{0}{0}{0}{0}'.format('x' * 50000) }}", TemplateTooBig),
    ("format-map", "{{ '{a:>100000000}'.format_map({'a': 1}) }}", TemplateTooBig),
    ("format-filter", "{{ '%99999999s'|format('x') }}", TemplateTooBig),
    # Memory: filters and methods.
    ("center-filter", "{{ first_name|center(100000000) }}", TemplateTooBig),
    ("center-method", "{{ 'x'.center(100000000) }}", TemplateTooBig),
    ("ljust-repeat", "{{ 'x'.ljust(10000) * 10000 }}", TemplateTooBig),
    ("indent", "{{ ('x\n' * 50000)|indent(10000) }}", TemplateTooBig),
    ("wordwrap", "{{ ('a ' * 50000)|wordwrap(1, wrapstring='y' * 10000) }}", TemplateTooBig),
    ("replace-filter", "{{ ('x' * 10000)|replace('', 'y' * 10000) }}", TemplateTooBig),
    ("replace-method", "{{ ('x' * 10000).replace('', 'y' * 10000) }}", TemplateTooBig),
    ("join-filter", "{{ range(10000)|join('y' * 10000) }}", TemplateTooBig),
    ("join-method", "{{ ('y' * 10000).join(range(10000)|map('string')) }}", TemplateTooBig),
    ("expandtabs", "{{ ('\t' * 10000).expandtabs(10000) }}", TemplateTooBig),
    ("translate", "{{ ('x' * 100000).translate({120: 'y' * 10000}) }}", TemplateTooBig),
    ("list-filter", "{{ ('x' * 100000)|list|length }}", TemplateTooBig),
    ("split", "{{ ('ab' * 50000).split('a')|length }}", TemplateTooBig),
    ("sum-lists", "{{ [[1] * 10000]|sum(start=[]) }}", TemplateError),
    ("tojson", "{{ ('<' * 30000)|tojson }}", TemplateTooBig),
    ("lipsum", "{{ lipsum(10000, max=10000) }}", TemplateTooBig),
    ("dict-global", "{{ dict(a='x' * 100000, b='y' * 100000) }}", TemplateTooBig),
    ("fromkeys", "{{ {}.fromkeys(range(10000), 'x' * 100) }}", TemplateTooBig),
    (
        "filter-block",
        "{% filter upper %}{% for i in range(10000) %}{{ 'x' * 100 }}{% endfor %}{% endfilter %}",
        TemplateTooBig,
    ),
    (
        "set-block",
        "{% set x %}{% for i in range(10000) %}" + "a" * 100 + "{% endfor %}"
        "{% endset %}{{ x|length }}",
        TemplateTooBig,
    ),
    # Memory: printing lists that hold the same big text many times.
    (
        "nested-lists",
        "{% set a = ['x' * 50000, 'y' * 50000] %}{% set b = [a, a] %}{% set c = [b, b] %}{{ c }}",
        TemplateTooBig,
    ),
    (
        "doubling-lists",
        "{% set ns = namespace(l=[1]) %}{% for i in range(40) %}"
        "{% set ns.l = [ns.l, ns.l] %}{% endfor %}{{ ns.l == ns.l }}",
        TemplateTooBig,
    ),
    (
        "namespace-grown-later",
        "{% set ns = namespace() %}{% set l = [ns] * 100 %}{% set ns.x = 'x' * 100000 %}{{ l }}",
        TemplateTooBig,
    ),
    # Numbers.
    ("huge-literal", "{{ " + "9" * 500 + " }}", TemplateTooBig),
    ("int-filter", "{{ ('9' * 4000)|int }}", TemplateTooBig),
    ("int-to-str", "{{ (('9' * 4299)|int)|string }}", TemplateTooBig),
    # CPU: loops, recursion, nesting.
    (
        "issue-nested-ranges",
        "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
        TemplateTooComplex,
    ),
    ("big-range", "{% for i in range(100000000) %}{% endfor %}", TemplateTooBig),
    (
        "loop-over-text",
        "{% for c in 'x' * 100000 %}{% for d in 'yy' %}{% endfor %}{% endfor %}",
        TemplateTooComplex,
    ),
    (
        "busy-loop",
        "{% for i in range(10000) %}{{ range(10000)|sort|join(',')|length }}{% endfor %}",
        TemplateTooSlow,
    ),
    ("macro-recursion", "{% macro m(n) %}{{ m(n) }}{% endmacro %}{{ m(1) }}", TemplateTooComplex),
    (
        "loop-recursion",
        "{% for x in [1] recursive %}{{ loop([x]) }}{% endfor %}",
        TemplateTooComplex,
    ),
    (
        "caller-recursion",
        "{% macro m() %}{{ caller() }}{% endmacro %}"
        "{% macro r() %}{% call m() %}{{ r() }}{% endcall %}{% endmacro %}{{ r() }}",
        TemplateTooComplex,
    ),
    ("deep-brackets", "{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}", TemplateTooComplex),
    ("deep-minus", "{{ " + "-" * 3000 + "1 }}", TemplateTooComplex),
    ("deep-lists", "{{ " + "[" * 300 + "1" + "]" * 300 + " }}", TemplateTooComplex),
    ("long-sum", "{{ " + " + ".join(["1"] * 500) + " }}", TemplateTooComplex),
    ("nested-fors", NESTED_FORS, TemplateTooComplex),
    ("too-long", "x" * 20_001, TemplateTooComplex),
    # Attribute tricks and what the sandbox must keep refusing.
    ("class-mro", "{{ first_name.__class__.__mro__ }}", TemplateError),
    ("format-attribute", "{{ '{0.__class__}'.format(first_name) }}", TemplateError),
    ("append-to-itself", "{% set l = [1] %}{{ l.append(l) }}", TemplateError),
    ("include", "{% include 'other' %}", TemplateError),
    ("divide-by-zero", "{{ 1 / 0 }}", TemplateError),
    ("unknown-filter", "{{ first_name|nosuchfilter }}", TemplateError),
]


def _refusal(source: str) -> tuple[TemplateError, float, int]:
    """Render `source`; the error it raised, the seconds it took and its peak allocation.

    Timed and measured in two renders: tracemalloc slows Python several times over, and
    the time that matters is the product's, without it.
    """
    started = time.monotonic()
    try:
        render_text(source, VALUES)
    except TemplateError:
        seconds = time.monotonic() - started
    else:
        pytest.fail("the template rendered")
    tracemalloc.start()
    try:
        render_text(source, VALUES)
    except TemplateError as error:
        return error, seconds, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    pytest.fail("the template rendered the second time")


@pytest.mark.parametrize(
    ("source", "error"), [(s, e) for _, s, e in HOSTILE], ids=[name for name, _, _ in HOSTILE]
)
def test_a_hostile_template_is_refused_quickly_in_little_memory(
    source: str, error: type[TemplateError]
) -> None:
    refused, seconds, peak = _refusal(source)

    assert isinstance(refused, error), refused
    assert seconds < 1.5
    assert peak < BIG, f"{peak / 1e6:.0f} MB"
    assert str(refused).startswith("the template ")


def test_the_sentences_say_what_went_wrong_in_plain_words() -> None:
    big, _, _ = _refusal(HOSTILE[0][1])
    slow, _, _ = _refusal(dict((n, s) for n, s, _ in HOSTILE)["busy-loop"])

    assert str(big) == (
        "the template builds text longer than 100,000 characters; templates are for short messages"
    )
    assert str(slow).startswith("the template took longer than 1 second to fill in")


PAGE_CASES = ["issue-repeat", "issue-nested-ranges", "busy-loop", "macro-recursion", "int-to-str"]


@pytest.mark.parametrize("name", PAGE_CASES)
def test_the_preview_shows_the_sentence_never_a_500(signed_in: Browser, name: str) -> None:
    source = dict((n, s) for n, s, _ in HOSTILE)[name]
    started = time.monotonic()
    response = signed_in.post(
        "/templates/request", {"subject": "Hello", "body": source}, page="/templates/request"
    )
    seconds = time.monotonic() - started

    page = response.get_data(as_text=True)
    assert response.status_code in (200, 400)
    assert "could not be written." in page
    assert "The template " in page.split('id="template-preview"', 1)[1]
    assert seconds < 3  # the page itself, twice the GET for the token, and the render


@pytest.mark.parametrize("name", ["issue-repeat", "busy-loop", "deep-brackets"])
def test_saving_a_hostile_template_is_refused_with_the_sentence(
    signed_in: Browser, name: str
) -> None:
    source = dict((n, s) for n, s, _ in HOSTILE)[name]
    response = signed_in.post(
        "/templates/request",
        {"subject": "Hello", "body": source, "save": "1"},
        page="/templates/request",
    )

    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Not saved.</strong> The message " in page


def test_a_hostile_template_saved_before_the_limits_gives_drafts_an_error(
    session: Session, user: User
) -> None:
    """A template stored before these limits existed makes drafts carry the sentence."""
    busy = dict((n, s) for n, s, _ in HOSTILE)["issue-repeat"]
    session.add(Template(user_id=user.id, kind=MessageKind.REQUEST, subject="Hi", body=busy))
    person = make_contact(session, user)
    target = targets.create_target(session, user, "Archives", [person.id])

    (draft,) = targets.fill_pipeline(session, user, target, NOW)

    assert draft.error is not None
    assert "longer than 100,000 characters" in draft.error
