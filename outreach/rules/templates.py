"""Sandboxed rendering of the user's message templates.

Templates are user input: they render in Jinja's sandbox, so they cannot reach
Python internals, and with strict undefined, so a missing variable is an error
rather than a silent gap. An empty value is an error too: "Hi ," must never go out.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment

from outreach.errors import MissingVariable, TemplateError

# Every variable a template may use, with what it holds. Shown in the editor.
VARIABLES: dict[str, str] = {
    "first_name": "The contact's first name.",
    "full_name": "The contact's full name.",
    "role": "The contact's role or job title.",
    "organisation": "Where the contact works.",
    "how_found": "How you came across the contact (a talk, the alumni network, ...).",
    "referrer_name": "Who suggested you get in touch, if someone did.",
    "my_name": "Your name.",
    "my_introduction": "Your 30-second introduction.",
    "my_signature": "Your signature.",
    "target": "The field or organisation you want to learn about.",
    "meeting_date": 'The day of your meeting, e.g. "Thursday 3 December" (meeting messages).',
    "meeting_time": 'The time of your meeting in your time zone, e.g. "14:00" (meeting messages).',
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


# A message is short; anything near these sizes is an attempt to exhaust memory.
MAX_OUTPUT = 100_000
MAX_NUMBER_ARGUMENT = 10_000


class _BoundedSandbox(SandboxedEnvironment):
    """The sandbox, plus limits on what a template can make the machine do.

    Jinja's sandbox keeps templates away from Python internals but not from
    building a huge string: `{{ 'x' * 10**9 }}` would still run. Repetition and
    powers are checked, numbers passed to filters and methods are bounded, and
    rendering stops once the text passes MAX_OUTPUT characters.
    """

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            raise SecurityError("powers are not allowed in templates")
        if isinstance(left, int | float) and isinstance(right, int | float):
            return left * right
        count = right if isinstance(right, int) else left if isinstance(left, int) else 0
        if count > MAX_NUMBER_ARGUMENT:
            raise SecurityError("repeating text that many times is not allowed")
        return super().call_binop(context, operator, left, right)

    def call(self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        for value in (*args, *kwargs.values()):
            if isinstance(value, int) and abs(value) > MAX_NUMBER_ARGUMENT:
                raise SecurityError(f"the number {value} is too large for a template")
        return super().call(__context, __obj, *args, **kwargs)


_environment = _BoundedSandbox(
    undefined=StrictUndefined,
    finalize=_refuse_blank,
    autoescape=False,  # plain-text email, not HTML
    keep_trailing_newline=False,
)


def _bounded(function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)  # keeps Jinja's pass_context/pass_environment marks
    def checked(*args: Any, **kwargs: Any) -> Any:
        for value in (*args, *kwargs.values()):
            if isinstance(value, int) and abs(value) > MAX_NUMBER_ARGUMENT:
                raise SecurityError(f"the number {value} is too large for a template")
        return function(*args, **kwargs)

    return checked


# Filters such as center() and indent() take widths: bound them like method calls.
_environment.filters = {name: _bounded(f) for name, f in _environment.filters.items()}


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str


def variables_used(source: str) -> set[str]:
    """Return the names of the variables `source` refers to.

    :raise TemplateError: when the template does not parse.
    """
    return set(meta.find_undeclared_variables(_parse(source)))


def _parse(source: str) -> nodes.Template:
    try:
        return _environment.parse(source)
    except TemplateSyntaxError as error:
        raise TemplateError(
            f"the template has an error on line {error.lineno}: {error.message}"
        ) from None


def render_text(source: str, values: Mapping[str, str], contact: str | None = None) -> str:
    """Render one template string.

    :raise MissingVariable: when a variable it prints is absent or blank.
    :raise TemplateError: on a syntax error or a blocked operation.
    """
    unknown = variables_used(source) - set(values)
    if unknown:
        raise MissingVariable(sorted(unknown)[0], contact)
    named = {name: _NamedValue(name, str(value)) for name, value in values.items()}
    try:
        pieces: list[str] = []
        size = 0
        for piece in _environment.from_string(source).generate(named):
            size += len(piece)
            if size > MAX_OUTPUT:
                raise TemplateError(
                    f"the template makes a text longer than {MAX_OUTPUT:,} characters"
                )
            pieces.append(piece)
        return "".join(pieces)
    except _BlankOutput as blank:
        raise MissingVariable(blank.name, contact) from None
    except UndefinedError as error:
        raise TemplateError(
            f"the template refers to something undefined: {error.message}"
        ) from None
    except SecurityError as error:
        # Our wrapper type is an implementation detail; to the user it is text.
        reason = str(error).replace("'_NamedValue' object", "text")
        raise TemplateError(f"the template tried something not allowed: {reason}") from None


def render(
    subject: str, body: str, values: Mapping[str, str], contact: str | None = None
) -> Rendered:
    """Render a subject and a body, checking both before returning either."""
    rendered_subject = " ".join(render_text(subject, values, contact).split())
    rendered_body = render_text(body, values, contact).strip() + "\n"
    return Rendered(subject=rendered_subject, body=rendered_body)


def load_default(kind: str) -> tuple[str, str]:
    """Return the (subject, body) of the built-in template for a kind of message."""
    text = (resources.files("outreach") / "default_templates" / f"{kind}.txt").read_text()
    head, _, body = text.partition("\n\n")
    if not head.startswith("Subject: "):
        raise TemplateError(f"the built-in template '{kind}' has no Subject line")
    return head.removeprefix("Subject: ").strip(), body.strip() + "\n"
