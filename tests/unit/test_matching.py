from outreach.matching import ThreadRef, address_of, match_reply, message_ids_in

SENT = {"<a1@uni.example>": ThreadRef(outreach_id=10, contact_id=1)}
OPEN = {"alex@org.example": (1, 10), "bo@org.example": (2, 20)}


def test_in_reply_to_matches_our_message() -> None:
    match = match_reply("<a1@uni.example>", None, "someone@else.example", SENT, OPEN)
    assert match is not None and (match.rule, match.outreach_id) == ("thread", 10)


def test_references_match_when_in_reply_to_is_foreign() -> None:
    match = match_reply("<x@y>", "<a1@uni.example> <x@y>", "z@z.example", SENT, {})
    assert match is not None and match.rule == "thread"


def test_message_id_comparison_ignores_case_and_spacing() -> None:
    match = match_reply("  <A1@UNI.example>", None, None, SENT, {})
    assert match is not None and match.contact_id == 1


def test_sender_address_matches_when_threading_headers_are_missing() -> None:
    match = match_reply(None, None, "Bo Chen <BO@org.example>", SENT, OPEN)
    assert match is not None and (match.rule, match.outreach_id) == ("sender", 20)


def test_unrelated_mail_matches_nothing() -> None:
    assert match_reply("<other@x>", None, "news@shop.example", SENT, OPEN) is None


def test_helpers() -> None:
    assert message_ids_in("<a@b> junk <C@D>") == ["<a@b>", "<c@d>"]
    assert address_of('"Lee, Alex" <Alex@Org.Example>') == "alex@org.example"
    assert address_of(None) == ""
