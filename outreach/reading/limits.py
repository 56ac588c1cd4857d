"""How much of an imported file Outreach reads, and the sentences for a file beyond it (pure).

A 300 KB CSV of 100,000 columns once made a 112 MB mapping page and cost 550 MB
on each view. Each cap is checked while the file is read, row by row or card by
card, so a file beyond one is refused before a table of it is built.
"""

from __future__ import annotations

from dataclasses import dataclass

from outreach.errors import ValidationError


@dataclass(frozen=True)
class ReadLimits:
    # Columns of a CSV row; properties of one vCard that Outreach reads.
    columns: int = 200
    # Rows of contacts in a CSV (the header row is not counted); cards in a vCard file.
    rows: int = 20_000
    # Characters in one CSV cell or one vCard value that Outreach reads.
    cell: int = 1_000
    # Characters in the whole file: the cap for what the upload limit does not cover
    # (the command line reads files of any size).
    characters: int = 4_000_000


LIMITS = ReadLimits()


class FileTooLarge(ValidationError):
    """A file beyond one of the ReadLimits: the message says which, and what to do."""


def _n(number: int) -> str:
    return f"{number:,}"


def check_characters(text: str, limits: ReadLimits = LIMITS) -> None:
    """:raise FileTooLarge: when `text` is longer than a file may be."""
    if len(text) > limits.characters:
        raise FileTooLarge(
            f"this file has {_n(len(text))} characters; Outreach reads at most "
            f"{_n(limits.characters)} in one import. Split it into smaller files and "
            "import each"
        )


def too_many_columns(count: int, limits: ReadLimits = LIMITS) -> FileTooLarge:
    return FileTooLarge(
        f"this file has {_n(count)} columns; Outreach reads at most {_n(limits.columns)}. "
        "Save only the columns you need and try again"
    )


def too_many_rows(limits: ReadLimits = LIMITS) -> FileTooLarge:
    return FileTooLarge(
        f"this file has more than {_n(limits.rows)} rows; Outreach reads at most "
        f"{_n(limits.rows)} in one import. Split it into smaller files and import each"
    )


def cell_too_long(
    where: str, length: int, limits: ReadLimits = LIMITS, *, more_than: bool = False
) -> FileTooLarge:
    """`where` says how to find the cell: "line 7, column 3"."""
    size = f"more than {_n(length)}" if more_than else _n(length)
    return FileTooLarge(
        f"{where} holds {size} characters; Outreach reads at most {_n(limits.cell)} "
        "in one cell. Shorten it and try again"
    )


def too_many_cards(limits: ReadLimits = LIMITS) -> FileTooLarge:
    return FileTooLarge(
        f"this file has more than {_n(limits.rows)} cards; Outreach reads at most "
        f"{_n(limits.rows)} in one import. Split it into smaller files and import each"
    )


def card_too_long(number: int, limits: ReadLimits = LIMITS) -> FileTooLarge:
    return FileTooLarge(
        f"card {number} has more than {_n(limits.columns)} lines that Outreach reads "
        "(names, addresses, notes); remove the ones you do not need and try again"
    )


def value_too_long(
    number: int, name: str, length: int, limits: ReadLimits = LIMITS
) -> FileTooLarge:
    return FileTooLarge(
        f"card {number}'s {name} holds {_n(length)} characters; Outreach reads at most "
        f"{_n(limits.cell)} in one field. Shorten it and try again"
    )
