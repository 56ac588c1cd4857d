"""Counts agree with their nouns wherever the dashboard writes one."""

from __future__ import annotations

import pytest

from outreach.rules.wording import plural


@pytest.mark.parametrize(
    ("count", "noun", "expected"),
    [
        (1, "business day", "1 business day"),
        (2, "business day", "2 business days"),
        (0, "draft", "0 drafts"),
        (1, "reply", "1 reply"),
        (3, "reply", "3 replies"),
        (12_500, "message", "12,500 messages"),
    ],
)
def test_a_count_agrees_with_its_noun(count: int, noun: str, expected: str) -> None:
    assert plural(count, noun) == expected


def test_an_irregular_plural_can_be_given() -> None:
    assert plural(2, "person on the list", "people on the list") == "2 people on the list"
