"""Separate what a person wrote from the history their mail client quoted (pure).

Two readings of one reply, for two purposes (and `quote_below`, the one writing:
our follow-up quotes the request under it, in the form these readings know):
- `strip_quoted_history` keeps only the person's own words, dropping every
  quoted line: classification must not read our own request back as theirs.
- `split_reply` is for display: it folds away the history below the new text,
  but keeps a reply written between quoted lines whole, so nothing said is hidden.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

_MAX_TEXT = 100_000

# A reply's quoted history starts at the first of these lines (attribution or separator lines
# written by the common clients, in English, German, French and Spanish).
_QUOTE_STARTS = [
    re.compile(pattern, re.IGNORECASE | re.MULTILINE)
    for pattern in (
        # "On Tue, 24 Nov 2026 at 09:30, Sam <sam@uni.example> wrote:" (may wrap once)
        r"^[ \t]*On\b[^\n]{0,200}(?:\n[^\n]{0,200})?\bwrote:[ \t]*$",
        r"^[ \t]*Am\b[^\n]{0,200}(?:\n[^\n]{0,200})?\bschrieb\b[^\n]{0,200}:[ \t]*$",
        r"^[ \t]*Le\b[^\n]{0,200}(?:\n[^\n]{0,200})?\ba écrit[ \t]*:[ \t]*$",
        r"^[ \t]*El\b[^\n]{0,200}(?:\n[^\n]{0,200})?\bescribió[ \t]*:[ \t]*$",
        # Outlook and others: a separator line.
        r"^[ \t]*-{2,}[ \t]*(?:Original Message|Ursprüngliche Nachricht|Message d'origine"
        r"|Mensaje original|Forwarded message|Message transféré|Mensaje reenviado"
        r"|Weitergeleitete Nachricht)[ \t]*-{2,}",
        r"^[ \t]*_{10,}[ \t]*$",
        # Outlook's header block: "From: ..." directly followed by "Sent: ..." (or localised).
        r"^[ \t]*\*?(?:From|De|Von|Da)\*?[ \t]*:[^\n]*\n[ \t]*\*?(?:Sent|Date|Envoyé|Gesendet"
        r"|Datum|Enviado|Fecha|Inviato)\*?[ \t]*:",
    )
]


def _history_start(text: str) -> int:
    """Where the quoted history begins (len(text) when there is none)."""
    cut = len(text)
    for pattern in _QUOTE_STARTS:
        found = pattern.search(text)
        if found is not None and found.start() < cut:
            cut = found.start()
    return cut


def history_start(text: str) -> int:
    """Where the quoted history begins in `text` ("On ... wrote:" and what follows);
    len(text) when there is none. `text` has "\n" line ends."""
    return _history_start(text[:_MAX_TEXT])


def strip_quoted_history(text: str) -> str:
    """The new part of a reply: quoted lines ("> ...") and everything after the quote's
    attribution line ("On ... wrote:", "-----Original Message-----", Outlook's "From:/Sent:"
    block, in the four languages Outreach reads) removed."""
    text = text[:_MAX_TEXT].replace("\r\n", "\n")
    cut = _history_start(text)
    kept = [line for line in text[:cut].split("\n") if not line.lstrip().startswith(">")]
    return "\n".join(kept).strip()


@dataclass(frozen=True)
class SplitReply:
    new_text: str
    history: str


def split_reply(text: str) -> SplitReply:
    """The new part of a reply, and the quoted history below it (possibly empty).

    Only history that comes after the new text is split off: a reply written
    between quoted lines is kept whole rather than risk hiding what was said.
    """
    text = text[:_MAX_TEXT].replace("\r\n", "\n")
    cut = _history_start(text)
    lines = text[:cut].split("\n")
    # A tail made only of quoted lines is history too.
    while lines and (not lines[-1].strip() or lines[-1].lstrip().startswith(">")):
        lines.pop()
    new = "\n".join(lines).rstrip()
    if not new.strip() or any(line.lstrip().startswith(">") for line in lines):
        return SplitReply(new_text=text.strip(), history="")
    return SplitReply(new_text=new.strip(), history=text[len(new) :].strip())


def attribution(sent_at_local: datetime, author: str) -> str:
    """ "On Thu 3 Dec 2026, Sam Student wrote:", as the common mail clients write it."""
    day = sent_at_local
    return f"On {day:%a} {day.day} {day:%b %Y}, {' '.join(author.split())} wrote:"


def quote_below(text: str, sent_at_local: datetime, author: str) -> str:
    """`text` quoted below a reply the way mail clients do: a blank line, the attribution,
    then each line of it prefixed "> " (">" alone for an empty line).

    The attribution is one `strip_quoted_history` knows, so an answer that quotes it back
    is read for its own words only.
    """
    lines = text.replace("\r\n", "\n").strip("\n").split("\n")
    quoted = "\n".join(f"> {line}" if line.strip() else ">" for line in lines)
    return f"\n\n{attribution(sent_at_local, author)}\n{quoted}\n"
