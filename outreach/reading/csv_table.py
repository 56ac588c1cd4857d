"""A CSV file cut into a header and rows: its delimiter sniffed, its header found,
its columns named after the contact fields they fill, and its size checked row by
row while it is read (outreach.reading.limits)."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from outreach.errors import ValidationError
from outreach.reading.limits import (
    LIMITS,
    ReadLimits,
    cell_too_long,
    check_characters,
    too_many_columns,
    too_many_rows,
)
from outreach.rules.wording import plural

# Column names we recognise, lower-cased with runs of spaces, "_" and "-" as one
# space. LinkedIn's connections export: "First Name", "Last Name", "Email
# Address", "Company", "Position"; Outlook's: "E-mail Address", "Job Title";
# Google Contacts': "E-mail 1 - Value", "Organization 1 - Name" (older) or
# "Organization Name" (newer).
_COLUMNS: dict[str, str] = {
    "email": "email",
    "email address": "email",
    "e mail": "email",
    "e mail address": "email",
    "e mail 1 value": "email",
    "email 1 value": "email",
    "primary email": "email",
    "name": "name",
    "full name": "name",
    "display name": "name",
    "first name": "first_name",
    "given name": "first_name",
    "last name": "last_name",
    "family name": "last_name",
    "surname": "last_name",
    "role": "role",
    "position": "role",
    "title": "role",
    "job title": "role",
    "organization 1 title": "role",
    "organization title": "role",
    "organisation": "organisation",
    "organization": "organisation",
    "company": "organisation",
    "organization 1 name": "organisation",
    "organization name": "organisation",
    "how found": "how_found",
    "source": "how_found",
    "why": "why_you",
    "why you": "why_you",
    "why them": "why_you",
    "why this person": "why_you",
    "why contact": "why_you",
    "reason": "why_you",
    "reason to contact": "why_you",
    "notes": "notes",
    "note": "notes",
    "time zone": "time_zone",
    "timezone": "time_zone",
    "referred by": "referred_by",
    "referrer": "referred_by",
}


@dataclass(frozen=True)
class CsvTable:
    """A CSV file cut into cells: the header row (if any) and the rows below it."""

    delimiter: str
    # The column names, or "Column 1", "Column 2", ... when the file has no header.
    header: list[str]
    has_header: bool
    rows: list[tuple[int, list[str]]]  # (line number in the file, cells)

    @property
    def width(self) -> int:
        return max([len(self.header)] + [len(cells) for _, cells in self.rows[:50]])

    def column_names(self) -> list[str]:
        names = list(self.header) + [""] * (self.width - len(self.header))
        return [name.strip() or f"Column {index + 1}" for index, name in enumerate(names)]

    def signature(self) -> str:
        """The header as one string: the key under which a mapping is remembered."""
        if not self.has_header:
            return f"(no header, {plural(self.width, 'column')})"
        return "\x1f".join(_column_key(name) for name in self.header)


def _column_key(column: str) -> str:
    return " ".join(column.strip().lower().replace("_", " ").replace("-", " ").split())


def guess_columns(header: Sequence[str]) -> list[str]:
    """For each column, the field it fills by its name, or "" when we do not know it."""
    mapping: list[str] = []
    for column in header:
        key = _COLUMNS.get(_column_key(column), "")
        mapping.append("" if key in mapping else key)
    return mapping


def _lines(text: str) -> Iterator[str]:
    """The lines of `text`, each with its line end, one at a time.

    io.StringIO would copy the whole text first, at four bytes a character.
    """
    start = 0
    while start < len(text):
        end = text.find("\n", start)
        stop = len(text) if end < 0 else end + 1
        yield text[start:stop]
        start = stop


def _first_lines(text: str, count: int = 20) -> list[str]:
    """The first `count` lines of `text` that are not blank, without splitting all of it."""
    lines: list[str] = []
    for line in _lines(text):
        if line.strip():
            lines.append(line)
            if len(lines) == count:
                break
    return lines


def _sniff_delimiter(lines: list[str]) -> str:
    """Comma, semicolon (spreadsheets in much of Europe) or tab: the one the lines share."""
    sample = [line for line in lines[:20] if line.strip()]
    best, best_score = ",", 0
    for delimiter in (",", ";", "\t"):
        counts = [line.count(delimiter) for line in sample]
        # The most common non-zero count, weighted by how many lines have it.
        nonzero = [count for count in counts if count]
        if not nonzero:
            continue
        mode = max(set(nonzero), key=nonzero.count)
        score = nonzero.count(mode) * 10 + mode
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _has_address(cells: Sequence[str]) -> bool:
    return any("@" in cell and " " not in cell.strip() for cell in cells)


def _checked_row(line: int, cells: list[str], limits: ReadLimits) -> None:
    """:raise FileTooLarge: when the row has too many columns or a cell too long."""
    if len(cells) > limits.columns:
        raise too_many_columns(len(cells), limits)
    for index, cell in enumerate(cells):
        if len(cell) > limits.cell:
            raise cell_too_long(f"line {line:,}, column {index + 1}", len(cell), limits)


def read_csv(text: str, *, has_header: bool | None = None, limits: ReadLimits = LIMITS) -> CsvTable:
    """Cut CSV text into a header and rows.

    The header is the first row with a column we recognise as the email
    address, after any preamble (LinkedIn's export opens with "Notes:" lines).
    Without one, it is the first row as wide as most rows, unless that row
    holds an address (then the file has no header). `has_header` overrides the
    guess about the first row.

    :raise FileTooLarge: when the file goes beyond `limits`; each row is checked as
        it is read, so a file far beyond them is refused at its first row too many.
    """
    check_characters(text, limits)
    text = text.lstrip("\ufeff")
    delimiter = _sniff_delimiter(_first_lines(text))
    reader = csv.reader(_lines(text), delimiter=delimiter)
    rows: list[tuple[int, list[str]]] = []
    try:
        for cells in reader:
            _checked_row(reader.line_num, cells, limits)
            if any(cell.strip() for cell in cells):
                # One row more than the cap for the header.
                if len(rows) > limits.rows:
                    raise too_many_rows(limits)
                rows.append((reader.line_num, cells))
    except csv.Error as error:
        if "field larger than field limit" in str(error):
            # The csv module's own cap (131,072) stopped it before our check could.
            raise cell_too_long(
                f"a cell on line {reader.line_num:,}",
                csv.field_size_limit(),
                limits,
                more_than=True,
            ) from None
        raise ValidationError(
            f"the file is not CSV that can be read (line {reader.line_num}: {error})"
        ) from None
    if not rows:
        raise ValidationError("the file holds no rows")
    start = next(
        (index for index, (_, cells) in enumerate(rows) if "email" in guess_columns(cells)), None
    )
    if start is None:
        widths = [len(cells) for _, cells in rows[:50]]
        common = max(set(widths), key=widths.count)
        start = next(index for index, (_, cells) in enumerate(rows) if len(cells) == common)
        if has_header is None:
            has_header = not _has_address(rows[start][1])
    elif has_header is None:
        has_header = True
    if not has_header:
        return CsvTable(delimiter, [], False, rows[start:])
    return CsvTable(delimiter, rows[start][1], True, rows[start + 1 :])
