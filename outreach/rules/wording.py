"""Counts in words: "1 business day", "2 business days", never "1 business days"."""

from __future__ import annotations

# Plurals that are not the singular plus "s".
_IRREGULAR = {"reply": "replies", "person": "people", "is": "are", "was": "were"}


def plural(count: float, singular: str, many: str | None = None) -> str:
    """`count` and the noun agreeing with it: plural(1, "business day") -> "1 business day".

    The last word of `singular` takes the plural ("business day" -> "business days");
    `many` gives an irregular plural in full.
    """
    # A whole number however it is stored: 60.0 seconds reads "60 seconds".
    shown = f"{count:,g}" if isinstance(count, float) else f"{count:,}"
    if count == 1:
        return f"{shown} {singular}"
    if many is None:
        head, _, last = singular.rpartition(" ")
        last = _IRREGULAR.get(last, last + "s")
        many = f"{head} {last}" if head else last
    return f"{shown} {many}"
