"""Text that reaches a mail header or a protocol line carries no control characters (pure).

A CR or LF in a user name ends an IMAP command and starts another; a NUL from an
imported file ends up in a To: header. Every field that reaches a header or a
protocol line (names, addresses, subjects, mailbox settings) is refused when it
holds a character of Unicode category Cc; multi-line text (a message body, a
note) may keep its line breaks and tabs.
"""

from __future__ import annotations

import unicodedata

from outreach.errors import ValidationError

# What multi-line text may hold: line breaks (CR LF from a browser's textarea) and tabs.
MULTI_LINE_ALLOWED = frozenset("\n\r\t")

_NAMES = {
    "\x00": "a NUL",
    "\t": "a tab",
    "\n": "a line break",
    "\r": "a carriage return",
    "\x1b": "an escape",
    "\x7f": "a delete",
}


def control_characters(text: str, allowed: frozenset[str] = frozenset()) -> list[str]:
    """The control characters (category Cc) in `text` not in `allowed`, each once, in order."""
    found: list[str] = []
    for character in text:
        if (
            character not in allowed
            and character not in found
            and unicodedata.category(character) == "Cc"
        ):
            found.append(character)
    return found


def printable(text: str) -> str:
    """`text` with each control character shown as U+FFFD, to name a row on a page."""
    return "".join("\ufffd" if unicodedata.category(ch) == "Cc" else ch for ch in text)


def describe(character: str) -> str:
    """A control character as a person can read it: "line break", "U+0000 (NUL)"."""
    code = f"U+{ord(character):04X}"
    name = _NAMES.get(character)
    return f"{name} ({code})" if name else f"the control character {code}"


def control_character_problem(
    what: str, text: str | None, *, multi_line: bool = False
) -> str | None:
    """A sentence saying `what` holds a control character, or None when it holds none."""
    if not text:
        return None
    found = control_characters(text, MULTI_LINE_ALLOWED if multi_line else frozenset())
    if not found:
        return None
    return f"{what} contains {describe(found[0])}, which cannot be used there"


def refuse_control_characters(what: str, text: str | None, *, multi_line: bool = False) -> None:
    """:raise ValidationError: when `text` holds a control character (see the module)."""
    problem = control_character_problem(what, text, multi_line=multi_line)
    if problem:
        raise ValidationError(problem)


# The longest value each kind of typed field holds. The forms use the same numbers
# (web.forms) and the core checks them again, so a value from the command line, an
# import or an old form is held to them too. Contacts have their own
# (outreach.contacts.MAX_LENGTHS), templates theirs (outreach.template_library).
MAX_NAME = 200  # a person's, a target's or a mailbox's display name
MAX_ADDRESS = 320  # RFC 5321: 64 + @ + 255
MAX_SUBJECT = 300
MAX_BODY = 20_000
MAX_INTRODUCTION = 1_500
MAX_SIGNATURE = 1_000
MAX_PASSWORD = 1_024


def length_problem(what: str, text: str | None, limit: int) -> str | None:
    """A sentence saying `what` is longer than `limit`, or None when it is not."""
    if text is None or len(text) <= limit:
        return None
    return f"{what} is too long ({len(text):,} characters; {limit:,} at most)"


def refuse_too_long(what: str, text: str | None, limit: int) -> None:
    """:raise ValidationError: when `text` is longer than `limit` characters."""
    problem = length_problem(what, text, limit)
    if problem:
        raise ValidationError(problem)
