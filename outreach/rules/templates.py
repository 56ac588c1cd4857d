"""Sandboxed rendering of the user's message templates.

Templates are user input: they render in Jinja's sandbox, so they cannot reach
Python internals, and with strict undefined, so a missing variable is an error
rather than a silent gap. An empty value is an error too: "Hi ," must never go out.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from typing import TypeVar

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.exceptions import TemplateError as JinjaError

from outreach.errors import MissingVariable, TemplateError, TemplateTooComplex
from outreach.rules import template_limits
from outreach.rules.template_sandbox import BoundedSandbox, guard

# Every variable a template may use, with what it holds. Shown in the editor.
VARIABLES: dict[str, str] = {
    "first_name": "The contact's first name.",
    "full_name": "The contact's full name.",
    "role": "The contact's role or job title.",
    "organisation": "Where the contact works.",
    "how_found": "How you came across the contact (a talk, the alumni network, ...).",
    "referrer_name": "Who suggested you get in touch, if someone did.",
    "why_you": 'Why this person in particular, if you said: "your talk on ..." (may be empty).',
    "my_name": "Your name.",
    "my_introduction": "Your 30-second introduction.",
    "my_signature": "Your name and your signature's other lines (school, phone, LinkedIn).",
    "field": 'The target\'s field phrase, as it reads in a sentence: "museum education".',
    "target": "The same as field (the name older templates use); never the list's name.",
    "update": "Your news since you met: what you did with their advice (keep-in-touch "
    "messages; asked for on the draft, which waits for it).",
    "meeting_date": 'The day of your meeting, e.g. "Tuesday 8 December" (meeting messages).',
    "meeting_time": (
        "The time with its zone, and the contact's own when known: \"15:00 London time, "
        '10:00 in New York" (meeting messages).'
    ),
    "meeting_place": "Where the meeting is, or how to join the call (meeting messages).",
    "specific_detail": "Something specific from your meeting notes; the thank-you needs it.",
}


class _NamedValue(str):
    """A template value that remembers which variable it came from."""

    name: str

    def __new__(cls, name: str, value: str) -> _NamedValue:
        instance = super().__new__(cls, value)
        instance.name = name
        return instance


class _BlankOutput(Exception):
    def __init__(self, name: str) -> None:
        self.name = name


def _refuse_blank(value: object) -> object:
    """Stop rendering when an expression would print nothing.

    This runs only for output that is actually reached, so a variable printed
    inside `{% if referrer_name %}` may be empty when the test is false.
    """
    if isinstance(value, str) and not value.strip():
        raise _BlankOutput(value.name if isinstance(value, _NamedValue) else "an expression")
    return value


# A message is short: the most a rendered template may print.
MAX_OUTPUT = template_limits.MAX_TEXT

_environment = BoundedSandbox(
    undefined=StrictUndefined,
    finalize=_refuse_blank,
    autoescape=False,  # plain-text email, not HTML
    keep_trailing_newline=False,
)


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str


def variables_used(source: str) -> set[str]:
    """Return the names of the variables `source` refers to.

    :raise TemplateError: when the template does not parse or is beyond the limits.
    """
    with template_limits.rendering(), _in_words():
        return set(_compiled(source)[1])


def _parse(source: str) -> nodes.Template:
    template_limits.check_source(source)
    try:
        tree = _environment.parse(source)
    except TemplateSyntaxError as error:
        raise _syntax_error(error) from None
    except RecursionError:  # brackets inside brackets, thousands deep
        raise _too_deep() from None
    template_limits.check_tree(tree)
    return tree


def _syntax_error(error: TemplateSyntaxError) -> TemplateError:
    return TemplateError(f"the template has an error on line {error.lineno}: {error.message}")


# Drafts for many contacts render the same few templates: compile each text once.
@functools.lru_cache(maxsize=64)
def _compiled(source: str) -> tuple[Template, frozenset[str]]:
    tree = _parse(source)
    names = frozenset(meta.find_undeclared_variables(tree))
    try:
        return _environment.from_string(guard(tree)), names
    except TemplateSyntaxError as error:  # an unknown filter or test, found when compiling
        raise _syntax_error(error) from None
    except SyntaxError:  # Python's own limits on nesting, met by the compiled template
        raise TemplateTooComplex("the template puts tags inside one another too deeply") from None


def _too_deep() -> TemplateTooComplex:
    return TemplateTooComplex("the template puts tags or brackets inside one another too deeply")


@contextmanager
def _in_words() -> Iterator[None]:
    """Turn whatever a template made Python or Jinja raise into a TemplateError."""
    try:
        yield
    except TemplateError:
        raise
    except TemplateSyntaxError as error:  # an unknown filter is found only when used
        raise _syntax_error(error) from None
    except UndefinedError as error:
        raise TemplateError(
            f"the template refers to something undefined: {_plain(error.message)}"
        ) from None
    except SecurityError as error:
        raise TemplateError(f"the template tried something not allowed: {_plain(error)}") from None
    except RecursionError:
        raise template_limits.nested_too_deep() from None
    except MemoryError:
        raise template_limits.text_too_long() from None
    except (JinjaError, ArithmeticError, ValueError, TypeError, LookupError) as error:
        raise TemplateError(f"the template could not be filled in: {_plain(error)}") from None


_NAMED_VALUE = re.compile(r"'[\w.]*_NamedValue'? object'?")


def _plain(error: object) -> str:
    """Our wrapper type is an implementation detail; to the user it is text."""
    return _NAMED_VALUE.sub("text", str(error))


def render_text(source: str, values: Mapping[str, str], contact: str | None = None) -> str:
    """Render one template string, within `template_limits`.

    :raise MissingVariable: when a variable it prints is absent or blank.
    :raise TemplateError: on a syntax error or a blocked operation; TemplateTooBig,
        TemplateTooSlow or TemplateTooComplex when it goes beyond the limits.
    """
    with template_limits.rendering(), _in_words():
        template, used = _compiled(source)
        unknown = used - set(values)
        if unknown:
            raise MissingVariable(sorted(unknown)[0], contact)
        named = {name: _NamedValue(name, str(value)) for name, value in values.items()}
        try:
            pieces: list[str] = []
            size = 0
            for piece in template.generate(named):
                size += len(piece)
                if size > MAX_OUTPUT:
                    raise template_limits.text_too_long()
                pieces.append(piece)
            return "".join(pieces)
        except _BlankOutput as blank:
            raise MissingVariable(blank.name, contact) from None


def render(
    subject: str, body: str, values: Mapping[str, str], contact: str | None = None
) -> Rendered:
    """Render a subject and a body, checking both before returning either.

    Both share one budget of template_limits: one second in all, not one each.
    """
    with template_limits.rendering():
        return _render_both(subject, body, values, contact)


def _render_both(
    subject: str, body: str, values: Mapping[str, str], contact: str | None
) -> Rendered:
    rendered_subject = " ".join(render_text(subject, values, contact).split())
    rendered_body = render_text(body, values, contact).strip() + "\n"
    return Rendered(subject=rendered_subject, body=rendered_body)


def signature_block(name: str, signature: str) -> str:
    """How an email is signed: the user's name, then their signature's other lines.

    A signature whose first line holds the user's first name is used as it is, so
    the name is never written twice; an empty one leaves the name alone.
    """
    clean_name = " ".join(name.split())
    lines = [line.rstrip() for line in signature.strip().splitlines()]
    if not lines:
        return clean_name
    first = clean_name.split()[0].lower() if clean_name else ""
    if first and first not in lines[0].lower().split():
        lines.insert(0, clean_name)
    return "\n".join(lines)


def load_default(kind: str) -> tuple[str, str]:
    """Return the (subject, body) of the built-in template for a kind of message."""
    text = (resources.files("outreach") / "default_templates" / f"{kind}.txt").read_text()
    head, _, body = text.partition("\n\n")
    if not head.startswith("Subject: "):
        raise TemplateError(f"the built-in template '{kind}' has no Subject line")
    return head.removeprefix("Subject: ").strip(), body.strip() + "\n"


_Filled = TypeVar("_Filled")


def with_gaps(
    fill: Callable[[Mapping[str, str]], _Filled],
    values: Mapping[str, str],
    gap: Callable[[str], str],
    gaps_allowed: Collection[str] = VARIABLES,
) -> tuple[_Filled, list[str]]:
    """Fill a template, putting `gap(name)` where a value of `gaps_allowed` is missing.

    A draft must never show template code: where a value is missing, the text
    says in words what goes there (gap), and the caller keeps the names of what
    is missing (in the order met) to ask for them.

    :raise MissingVariable: for a missing name outside `gaps_allowed` (a typo in
        the template, say), or a blank expression that is no variable.
    :raise TemplateError: for any other problem with the template.
    """
    current = dict(values)
    missing: list[str] = []
    # Each round fills one more gap, so the loop ends within len(gaps_allowed) + 1 rounds.
    for _ in range(len(gaps_allowed) + 1):
        try:
            return fill(current), missing
        except MissingVariable as problem:
            name = problem.variable
            if name not in gaps_allowed or name in missing:
                raise
            missing.append(name)
            current[name] = gap(name)
    raise TemplateError("the template could not be filled in")  # pragma: no cover
