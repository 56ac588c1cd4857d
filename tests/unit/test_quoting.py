from datetime import datetime

from outreach.reading.quoting import quote_below, split_reply, strip_quoted_history


def test_gmail_style_history_is_split_off() -> None:
    reply = split_reply(
        "Happy to talk!\n\nOn Tue, 24 Nov 2026 at 10:00, Sam <s@x> wrote:\n> Dear Alex"
    )
    assert reply.new_text == "Happy to talk!"
    assert reply.history.startswith("On Tue")


def test_outlook_style_history_is_split_off() -> None:
    text = "Yes, Thursday works.\n\n________________________________\nFrom: Sam\nSent: Tuesday"
    assert split_reply(text).new_text == "Yes, Thursday works."


def test_french_german_and_spanish_openers() -> None:
    for opener in (
        "Le mar. 24 nov. 2026 à 10:00, Sam <s@x> a écrit :",
        "Am Di., 24. Nov. 2026 um 10:00 Uhr schrieb Sam <s@x>:",
        "El mar, 24 nov 2026 a las 10:00, Sam (<s@x>) escribió:",
    ):
        assert split_reply(f"Avec plaisir.\n\n{opener}\n> Bonjour").new_text == "Avec plaisir."


def test_plain_quoted_tail_is_split_off() -> None:
    assert split_reply("Sure.\n> earlier\n> text\n").new_text == "Sure."


def test_a_reply_written_between_quotes_is_kept_whole() -> None:
    text = "> Could we meet?\nYes, Monday.\n> Or Tuesday?\nAlso fine."
    assert split_reply(text).new_text == text


def test_text_without_history_is_unchanged() -> None:
    assert split_reply("Just this.\n").new_text == "Just this."
    assert split_reply("").history == ""


def test_our_follow_up_quotes_the_request_as_mail_clients_do() -> None:
    sent = datetime(2026, 12, 3, 14, 0)
    quoted = quote_below("Dear Dana,\r\n\r\nCould we talk?\n", sent, "Sam  Student")

    assert (
        quoted == "\n\nOn Thu 3 Dec 2026, Sam Student wrote:\n> Dear Dana,\n>\n> Could we talk?\n"
    )
    # The readers know the form: the follow-up's own words are all that is read as new.
    assert strip_quoted_history("Just checking in." + quoted) == "Just checking in."
    assert split_reply("Just checking in." + quoted).new_text == "Just checking in."
