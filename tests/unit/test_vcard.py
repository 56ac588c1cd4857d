"""Reading vCard files as Apple Contacts, Google Contacts and Outlook write them."""

from __future__ import annotations

from outreach.reading.vcard import Card, looks_like_vcard, parse_vcards

APPLE_3 = (
    "BEGIN:VCARD\r\n"
    "VERSION:3.0\r\n"
    "PRODID:-//Apple Inc.//macOS 15.1//EN\r\n"
    "N:Lovelace;Ada;;;\r\n"
    "FN:Ada Lovelace\r\n"
    "ORG:Analytical Engines\\, Ltd.;Research\r\n"
    "TITLE:Engineer\r\n"
    "item1.EMAIL;type=INTERNET;type=HOME:ada@home.example\r\n"
    "item2.EMAIL;type=INTERNET;type=WORK;type=pref:ada@engines.example\r\n"
    "item2.X-ABLabel:_$!<Work>!$_\r\n"
    "NOTE:Met at the\\nRoyal Society\\; ask about notes\r\n"
    "END:VCARD\r\n"
)

GOOGLE_3 = (
    "BEGIN:VCARD\n"
    "VERSION:3.0\n"
    "FN:Grace Hopper\n"
    "N:Hopper;Grace;;;\n"
    "EMAIL;TYPE=INTERNET:grace@navy.example\n"
    "EMAIL;TYPE=INTERNET:grace@home.example\n"
    "ORG:US Navy\n"
    "TITLE:Rear Admiral\n"
    "CATEGORIES:myContacts\n"
    "END:VCARD\n"
)

OUTLOOK_21 = (
    "BEGIN:VCARD\r\n"
    "VERSION:2.1\r\n"
    "N;LANGUAGE=de-de;CHARSET=Windows-1252:N=FCnez;Jos=E9\r\n"
    "FN;CHARSET=Windows-1252;ENCODING=QUOTED-PRINTABLE:Jos=E9 N=FA=F1ez\r\n"
    "ORG:Contoso;Sales\r\n"
    "TITLE:Account Manager\r\n"
    "NOTE;ENCODING=QUOTED-PRINTABLE;CHARSET=utf-8:First line=0D=0ASecond line is long =\r\n"
    "and continues here =C3=A9\r\n"
    "EMAIL;INTERNET:jose@other.example\r\n"
    "EMAIL;PREF;INTERNET:jose@contoso.example\r\n"
    "END:VCARD\r\n"
)

VCARD_4 = (
    "BEGIN:VCARD\n"
    "VERSION:4.0\n"
    "FN:Katherine Go\n"
    " ble Johnson\n"
    "N:Johnson;Katherine;;;\n"
    'EMAIL;TYPE="work,internet";PREF=2:kj@nasa.example\n'
    "EMAIL;PREF=1:katherine@home.example\n"
    "TZ:America/New_York\n"
    "END:VCARD\n"
)


def only_card(text: str) -> Card:
    parsed = parse_vcards(text)
    assert parsed.problems == []
    (card,) = parsed.cards
    return card


def test_an_apple_card_gives_the_preferred_address_and_unescaped_text() -> None:
    card = only_card("\ufeff" + APPLE_3)

    assert card.email == "ada@engines.example"
    assert (card.name, card.first_name, card.last_name) == ("Ada Lovelace", "Ada", "Lovelace")
    assert card.organisation == "Analytical Engines, Ltd."
    assert card.title == "Engineer"
    assert card.note == "Met at the\nRoyal Society; ask about notes"


def test_a_google_card_without_a_preference_gives_the_first_address() -> None:
    card = only_card(GOOGLE_3)

    assert card.email == "grace@navy.example"
    assert (card.name, card.organisation, card.title) == ("Grace Hopper", "US Navy", "Rear Admiral")


def test_an_outlook_21_card_decodes_quoted_printable_in_its_charset() -> None:
    card = only_card(OUTLOOK_21)

    assert card.email == "jose@contoso.example"
    assert card.name == "José Núñez"
    assert card.organisation == "Contoso"
    assert card.note == "First line\r\nSecond line is long and continues here é"


def test_a_40_card_unfolds_lines_and_honours_pref_numbers() -> None:
    card = only_card(VCARD_4)

    # Unfolding removes the line break and the one space that marks the fold.
    assert card.full_name == "Katherine Goble Johnson"
    assert card.email == "katherine@home.example"
    assert card.time_zone == "America/New_York"


def test_a_folded_line_keeps_the_text_after_the_fold_space() -> None:
    card = only_card("BEGIN:VCARD\nVERSION:3.0\nFN:Mary\n  Jackson\nEMAIL:m@x.example\nEND:VCARD\n")

    assert card.full_name == "Mary Jackson"


def test_a_name_is_taken_from_n_when_the_card_has_no_fn() -> None:
    card = only_card("BEGIN:VCARD\nVERSION:3.0\nN:Curie;Marie;;;\nEMAIL:m@c.example\nEND:VCARD\n")

    assert card.name == "Marie Curie"


def test_each_broken_card_is_reported_and_the_others_are_read() -> None:
    text = (
        GOOGLE_3
        + "BEGIN:VCARD\nVERSION:3.0\nFN:Jane Doe\nTEL:+44 1234\nEND:VCARD\n"
        + "BEGIN:VCARD\nVERSION:5.0\nFN:Future Person\nEMAIL:f@x.example\nEND:VCARD\n"
        + "BEGIN:VCARD\nFN:No Version\nEMAIL:n@x.example\nEND:VCARD\n"
        + "BEGIN:VCARD\nVERSION:3.0\nFN:Friends\nX-ADDRESSBOOKSERVER-KIND:group\nEND:VCARD\n"
        + "BEGIN:VCARD\nVERSION:3.0\nFN:Bad Line\nthis line has no colon\nEMAIL:b@x.example\n"
        + "END:VCARD\n"
        + VCARD_4
        + "BEGIN:VCARD\nVERSION:3.0\nFN:Cut Off\nEMAIL:c@x.example\n"
    )

    parsed = parse_vcards(text)

    assert [card.email for card in parsed.cards] == ["grace@navy.example", "katherine@home.example"]
    assert [str(problem) for problem in parsed.problems] == [
        "card 2 (Jane Doe): no email address",
        "card 3 (Future Person): vCard version 5.0 is not supported",
        "card 4 (No Version): the card has no VERSION line",
        "card 5 (Friends): this card is a group, not a person",
        "card 6 (Bad Line): line 33 is not a property (no colon)",
        "card 8 (Cut Off): the file ends before the card's END:VCARD",
    ]


def test_text_outside_any_card_is_reported() -> None:
    parsed = parse_vcards("hello\n" + GOOGLE_3)

    assert [card.email for card in parsed.cards] == ["grace@navy.example"]
    assert [str(problem) for problem in parsed.problems] == ["card 1: line 1 is outside any card"]


def test_a_card_opened_inside_another_closes_the_first_with_a_problem() -> None:
    parsed = parse_vcards("BEGIN:VCARD\nVERSION:3.0\nFN:Open\n" + GOOGLE_3)

    assert [card.email for card in parsed.cards] == ["grace@navy.example"]
    assert [str(problem) for problem in parsed.problems] == [
        "card 1 (Open): the card has no END:VCARD line"
    ]


def test_base64_photos_are_skipped() -> None:
    card = only_card(
        "BEGIN:VCARD\nVERSION:2.1\nFN:Pic\nPHOTO;ENCODING=BASE64;TYPE=JPEG:\n"
        " /9j/4AAQSkZJRgABAQ\n AAAQABAAD/2wBDAAgGBgcGBQ\n\nEMAIL:p@x.example\nEND:VCARD\n"
    )

    assert (card.name, card.email) == ("Pic", "p@x.example")


def test_only_text_opening_with_begin_vcard_looks_like_a_vcard() -> None:
    assert looks_like_vcard("\ufeff\r\nbegin:vcard\r\n")
    assert not looks_like_vcard("Name,Email\n")
