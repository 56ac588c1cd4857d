"""Sandboxed rendering of the user's message templates.

Templates are user input: they render in Jinja's sandbox, so they cannot reach
Python internals, and with strict undefined, so a missing variable is an error
rather than a silent gap. An empty value is an error too: "Hi ," must never go out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources

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


_environment = SandboxedEnvironment(
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
        return _environment.from_string(source).render(named)
    except _BlankOutput as blank:
        raise MissingVariable(blank.name, contact) from None
    except UndefinedError as error:
        raise TemplateError(
            f"the template refers to something undefined: {error.message}"
        ) from None
    except SecurityError as error:
        raise TemplateError(f"the template tried something not allowed: {error}") from None


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
