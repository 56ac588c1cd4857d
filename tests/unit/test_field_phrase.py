"""A first guess at a target's field phrase from its list name, for targets made before it."""

import pytest

from outreach.rules.field_phrase import guess_from_name


@pytest.mark.parametrize(
    ("name", "phrase"),
    [
        ("Museums (London list)", "museums"),
        ("Climate tech (sandbox)", "climate tech"),
        ("Science policy", "science policy"),
        ("NHS management", "NHS management"),
        ("Museum education - shortlist", "museum education"),
        ("Publishing list (autumn)", "publishing"),
        ("  Data   journalism  ", "data journalism"),
        ("UK civil service [demo]", "UK civil service"),
    ],
)
def test_list_words_are_dropped_and_the_rest_lower_cased_sensibly(name: str, phrase: str) -> None:
    assert guess_from_name(name) == phrase


def test_a_name_that_is_only_a_remark_is_kept() -> None:
    assert guess_from_name("(sandbox)") == "(sandbox)"
