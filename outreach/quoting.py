"""Separate what a person wrote from the history their mail client quoted (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Lines that open the quoted history, as the common clients write them in
# English, Spanish, French and German.
_HISTORY_OPENERS = [
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        r"^\s*on .{3,200} wrote:\s*$",
        r"^\s*el .{3,200} escribi[oó]:\s*$",
        r"^\s*le .{3,200} a [ée]crit\s*:\s*$",
        r"^\s*am .{3,200} schrieb .{0,200}:\s*$",
        r"^\s*-{2,}\s*(original message|mensaje original|message d'origine|"
        r"urspr[uü]ngliche nachricht)\s*-{2,}\s*$",
        r"^\s*_{10,}\s*$",  # Outlook's rule above "From: ... Sent: ..."
        r"^\s*(from|de|von):\s.+$",
    )
]


@dataclass(frozen=True)
class SplitReply:
    new_text: str
    history: str


def split_reply(text: str) -> SplitReply:
    """The new part of a reply, and the quoted history below it (possibly empty).

    Only history that comes after the new text is split off: a reply written
    between quoted lines is kept whole rather than risk hiding what was said.
    """
    lines = text.splitlines()
    for index, line in enumerate(lines):
        opens_history = any(pattern.match(line) for pattern in _HISTORY_OPENERS)
        quoted_from_here = all(
            not rest.strip() or rest.lstrip().startswith(">") for rest in lines[index:]
        )
        if (opens_history or quoted_from_here) and index > 0:
            new = "\n".join(lines[:index]).rstrip()
            if new.strip():
                return SplitReply(new_text=new, history="\n".join(lines[index:]).strip())
    return SplitReply(new_text=text.strip(), history="")
