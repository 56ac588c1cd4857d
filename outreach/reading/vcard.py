"""Reading people out of vCard files (pure: text in, plain values out).

Accepts what Apple Contacts, Google Contacts and Outlook export: vCard 2.1,
3.0 and 4.0, with folded lines, grouped properties ("item1.EMAIL"),
QUOTED-PRINTABLE values with a CHARSET (2.1), escaped commas and semicolons,
a byte-order mark and CRLF or LF line ends.

Written here rather than taken from a library: we need six properties, a
sentence per broken card ("card 4 (Jane Doe): no email address"), and the
leniency of the three exporters above, not a full object model of RFC 6350.
"""

from __future__ import annotations

import quopri
import re
from dataclasses import dataclass, field

from outreach.reading.limits import (
    LIMITS,
    ReadLimits,
    card_too_long,
    check_characters,
    too_many_cards,
    value_too_long,
)

SUPPORTED_VERSIONS = ("2.1", "3.0", "4.0")
# The properties a card is read for; the rest (PHOTO, ADR, ...) are passed over unkept.
_READ = frozenset(
    {
        "FN",
        "N",
        "VERSION",
        "KIND",
        "X-ADDRESSBOOKSERVER-KIND",
        "EMAIL",
        "ORG",
        "TITLE",
        "NOTE",
        "TZ",
    }
)

# A property line: optional group, name, parameters, then the value after the first
# colon that is not inside a quoted parameter value.
_NAME = re.compile(r"^(?:[A-Za-z0-9-]+\.)?([A-Za-z0-9-]+)")


@dataclass(frozen=True)
class Card:
    """One person as read from a card; empty strings where the card says nothing."""

    number: int  # 1 for the first card in the file
    line: int  # where its BEGIN:VCARD is
    email: str = ""
    full_name: str = ""
    first_name: str = ""
    last_name: str = ""
    organisation: str = ""
    title: str = ""
    note: str = ""
    time_zone: str = ""

    @property
    def name(self) -> str:
        """The name to show: the card's FN, else given and family name from N."""
        return self.full_name or " ".join(
            part for part in (self.first_name, self.last_name) if part
        )


@dataclass(frozen=True)
class CardProblem:
    """A card that could not be read, and why, in words."""

    number: int
    name: str  # what the card calls the person, when it says; else ""
    problem: str

    @property
    def where(self) -> str:
        return f"card {self.number} ({self.name})" if self.name else f"card {self.number}"

    def __str__(self) -> str:
        return f"{self.where}: {self.problem}"


@dataclass
class VCardFile:
    cards: list[Card] = field(default_factory=list)
    problems: list[CardProblem] = field(default_factory=list)


@dataclass
class _Property:
    name: str
    params: dict[str, list[str]]
    value: str


def looks_like_vcard(text: str) -> bool:
    """Whether the text opens (after blank lines and a BOM) with BEGIN:VCARD."""
    return text.lstrip("\ufeff \t\r\n")[:11].upper() == "BEGIN:VCARD"


def _physical_lines(text: str) -> list[str]:
    return text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _split_property(line: str) -> tuple[str, str] | None:
    """(name and parameters, value), split at the first colon outside double quotes."""
    quoted = False
    for index, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == ":" and not quoted:
            return line[:index], line[index + 1 :]
    return None


def _split_unquoted(text: str, separator: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
            continue
        if char == separator and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _parse_params(head: str) -> tuple[str, dict[str, list[str]]] | None:
    pieces = _split_unquoted(head, ";")
    found = _NAME.match(pieces[0].strip())
    if found is None or found.end() != len(pieces[0].strip()):
        return None
    params: dict[str, list[str]] = {}
    for piece in pieces[1:]:
        key, equals, value = piece.partition("=")
        if equals:
            values = [item.strip() for item in value.split(",") if item.strip()]
            params.setdefault(key.strip().upper(), []).extend(values)
        else:
            # vCard 2.1 writes bare parameters: "EMAIL;PREF;INTERNET:" means TYPE=PREF,INTERNET.
            params.setdefault("TYPE", []).append(key.strip())
    return found.group(1).upper(), params


def _is_quoted_printable(head: str) -> bool:
    upper = head.upper()
    return "ENCODING=QUOTED-PRINTABLE" in upper or ";QUOTED-PRINTABLE" in upper


def _logical_lines(lines: list[str]) -> list[tuple[int, str]]:
    """Unfold: a line starting with a space or tab continues the one before it.

    A QUOTED-PRINTABLE value (vCard 2.1) ending in "=" continues on the next
    line too, whether or not that line is indented.
    """
    logical: list[tuple[int, str]] = []
    index = 0
    while index < len(lines):
        number, line = index + 1, lines[index]
        index += 1
        if line[:1] in (" ", "\t") and logical:
            previous_number, previous = logical[-1]
            logical[-1] = (previous_number, previous + line[1:])
            continue
        head = line.split(":", 1)[0]
        if _is_quoted_printable(head):
            while line.endswith("=") and index < len(lines):
                line = line[:-1] + lines[index].lstrip(" \t")
                index += 1
        logical.append((number, line))
    return logical


def _decode_quoted_printable(value: str, charset: str) -> str:
    raw = quopri.decodestring(value.encode("ascii", errors="replace"))
    try:
        return raw.decode(charset or "utf-8")
    except (LookupError, UnicodeDecodeError):
        # Outlook says nothing, or says UTF-8 for Windows-1252 text.
        return raw.decode("cp1252", errors="replace")


def _unescape(text: str) -> str:
    out: list[str] = []
    chars = iter(text)
    for char in chars:
        if char != "\\":
            out.append(char)
            continue
        following = next(chars, "")
        out.append("\n" if following in ("n", "N") else following)
    return "".join(out)


def _components(value: str) -> list[str]:
    """A structured value (N, ORG) split at semicolons that are not escaped."""
    parts: list[str] = []
    current: list[str] = []
    escaped = False
    for char in value:
        if escaped:
            current.append("\\" + char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ";":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [_unescape(part).strip() for part in parts]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _preference(prop: _Property, position: int) -> tuple[int, int]:
    """Sort key for EMAIL: PREF=1 (4.0) or TYPE=pref (2.1, 3.0) first, then file order."""
    rank = 101
    for value in prop.params.get("PREF", []):
        if value.isdigit():
            rank = min(rank, int(value))
    if any(value.lower() == "pref" for value in prop.params.get("TYPE", [])):
        rank = min(rank, 1)
    return (rank, position)


_GROUP_KINDS = {"group", "org"}


def _card_from(number: int, line: int, properties: list[_Property]) -> Card | CardProblem:
    values: dict[str, list[_Property]] = {}
    for prop in properties:
        values.setdefault(prop.name, []).append(prop)

    def first(name: str) -> str:
        found = values.get(name)
        return found[0].value if found else ""

    full_name = _one_line(_unescape(first("FN")))
    family, given = "", ""
    if "N" in values:
        parts = _components(first("N")) + ["", ""]
        family, given = _one_line(parts[0]), _one_line(parts[1])
    shown = full_name or " ".join(part for part in (given, family) if part)

    version = first("VERSION").strip()
    if not version:
        return CardProblem(number, shown, "the card has no VERSION line")
    if version not in SUPPORTED_VERSIONS:
        return CardProblem(number, shown, f"vCard version {version} is not supported")
    kind = (first("KIND") or first("X-ADDRESSBOOKSERVER-KIND")).strip().lower()
    if kind in _GROUP_KINDS:
        return CardProblem(number, shown, "this card is a group, not a person")

    emails = sorted(
        (
            (_preference(prop, position), _unescape(prop.value).strip())
            for position, prop in enumerate(values.get("EMAIL", []))
        ),
    )
    addresses = [address for _, address in emails if address]
    if not addresses:
        return CardProblem(number, shown, "no email address")

    organisation = ""
    if "ORG" in values:
        organisation = _one_line(next((part for part in _components(first("ORG")) if part), ""))
    zone = _unescape(first("TZ")).strip()
    return Card(
        number=number,
        line=line,
        email=addresses[0],
        full_name=full_name,
        first_name=given,
        last_name=family,
        organisation=organisation,
        title=_one_line(_unescape(first("TITLE"))),
        note=_unescape(first("NOTE")).strip(),
        # Only a zone name ("Europe/Berlin"): an offset such as -05:00 changes with the seasons.
        time_zone=zone if "/" in zone else "",
    )


def parse_vcards(text: str, limits: ReadLimits = LIMITS) -> VCardFile:
    """Every card in `text`, and a problem for each card that cannot be read.

    A broken card never stops the others from being read.

    :raise FileTooLarge: when the file goes beyond `limits` (checked as it is read).
    """
    check_characters(text, limits)
    result = VCardFile()
    properties: list[_Property] | None = None
    card_number = 0
    card_line = 0
    broken: str | None = None
    for number, line in _logical_lines(_physical_lines(text)):
        if not line.strip():
            continue
        split = _split_property(line)
        head, value = split if split is not None else (line, "")
        upper_head = head.strip().upper()
        if upper_head == "BEGIN" and value.strip().upper() == "VCARD":
            if properties is not None:
                result.problems.append(
                    _problem_for(card_number, properties, "the card has no END:VCARD line")
                )
            card_number += 1
            if card_number > limits.rows:
                raise too_many_cards(limits)
            card_line = number
            properties = []
            broken = None
            continue
        if properties is None:
            # Text between cards: say where, as a card problem would.
            result.problems.append(
                CardProblem(card_number + 1, "", f"line {number} is outside any card")
            )
            continue
        if upper_head == "END" and value.strip().upper() == "VCARD":
            if broken is not None:
                result.problems.append(_problem_for(card_number, properties, broken))
            else:
                card = _card_from(card_number, card_line, properties)
                if isinstance(card, Card):
                    result.cards.append(card)
                else:
                    result.problems.append(card)
            properties = None
            continue
        if split is None:
            broken = broken or f"line {number} is not a property (no colon)"
            continue
        parsed = _parse_params(head)
        if parsed is None:
            broken = broken or f"line {number} has a property name that cannot be read"
            continue
        name, params = parsed
        if name not in _READ:
            continue
        encoding = [item.upper() for item in params.get("ENCODING", [])]
        types = [item.upper() for item in params.get("TYPE", [])]
        if "QUOTED-PRINTABLE" in encoding or "QUOTED-PRINTABLE" in types:
            charset = (params.get("CHARSET") or ["utf-8"])[0]
            value = _decode_quoted_printable(value, charset)
        if len(value) > limits.cell:
            raise value_too_long(card_number, name, len(value), limits)
        if len(properties) >= limits.columns:
            raise card_too_long(card_number, limits)
        properties.append(_Property(name, params, value))
    if properties is not None:
        result.problems.append(
            _problem_for(card_number, properties, "the file ends before the card's END:VCARD")
        )
    return result


def _problem_for(number: int, properties: list[_Property], problem: str) -> CardProblem:
    names = [prop.value for prop in properties if prop.name == "FN"]
    return CardProblem(number, _one_line(_unescape(names[0])) if names else "", problem)
