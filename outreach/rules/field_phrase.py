"""A target's field phrase: the words that read inside a sentence of an email.

A target's name is the name of a list ("Museums (London list)"); emails need the
field itself ("museums"), as it reads after "your work in" or "advice about". For
targets made before the phrase was asked for, `guess_from_name` makes a first
guess the user then confirms (the migration 0008 keeps its own copy of these rules:
a migration must not change when this module does).
"""

from __future__ import annotations

import re

# The most characters a phrase holds (the column's size).
MAX_LENGTH = 200

# A bracketed remark at the end names the list, not the field: "(London list)", "(sandbox)".
_TRAILING_REMARK = re.compile(r"\s*[\(\[][^\)\]]*[\)\]]\s*$")
# A trailing word that names the list itself: "Museums list", "Climate tech - shortlist".
_TRAILING_LIST_WORD = re.compile(
    r"\s*[-–—:,]?\s*\b(short ?list|long ?list|list|names|contacts|targets?|sandbox|demo)\s*$",
    re.IGNORECASE,
)


def _lower_sensibly(word: str) -> str:
    """Lower-case a word unless it is an acronym or a name inside (NHS, UK, McKinsey, iOS)."""
    rest = word[1:]
    if any(letter.isupper() for letter in rest) or any(letter.isdigit() for letter in word):
        return word
    return word.lower()


def guess_from_name(name: str) -> str:
    """A first guess at the field phrase from a list's name.

    "Museums (London list)" -> "museums"; "Climate tech (sandbox)" -> "climate tech";
    "NHS management" -> "NHS management". Never empty when the name has a word in it.
    """
    text = " ".join(name.split())
    for _ in range(3):  # "Museums list (London)" has two list-ish endings
        shorter = _TRAILING_LIST_WORD.sub("", _TRAILING_REMARK.sub("", text)).strip(" -–—:,")
        if not shorter or shorter == text:
            break
        text = shorter
    words = text.split()
    if not words:
        return " ".join(name.split())
    return " ".join(_lower_sensibly(word) for word in words)
