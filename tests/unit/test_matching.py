from outreach.reading.matching import (
    ThreadRef,
    address_of,
    by_domain,
    domain_of,
    match_reply,
    message_ids_in,
)

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


def test_a_colleague_at_the_contacts_domain_is_only_a_possible_reply() -> None:
    open_by_address = {"alex@org.example": (1, 10)}
    match = match_reply(
        None, None, "Assistant <pa@ORG.example>", SENT, open_by_address, by_domain(open_by_address)
    )
    assert match is not None and (match.rule, match.outreach_id) == ("domain", 10)


def test_the_sender_rule_wins_over_the_domain_rule() -> None:
    match = match_reply(None, None, "alex@org.example", SENT, OPEN, by_domain(OPEN))
    assert match is not None and (match.rule, match.contact_id) == ("sender", 1)


def test_public_mail_domains_never_make_a_possible_reply() -> None:
    open_by_address = {"alex.private@gmail.com": (1, 10)}
    assert by_domain(open_by_address) == {}
    assert (
        match_reply(
            None, None, "stranger@gmail.com", SENT, open_by_address, by_domain(open_by_address)
        )
        is None
    )


def test_the_most_recently_active_contact_of_a_shared_domain_is_named() -> None:
    # Ordered oldest change first, as the poller reads them.
    assert by_domain({"a@org.example": (1, 10), "b@org.example": (2, 20)}) == {
        "org.example": (2, 20)
    }
    assert domain_of("x@Sub.Org.Example.") == "sub.org.example"
    assert domain_of("no-at-sign") == ""


# Gmail's thread id (X-GM-THRID): our request's thread, and another outreach's.
THREADS = {1766161213520123456: ThreadRef(outreach_id=10, contact_id=1), 42: ThreadRef(30, 3)}


def test_a_message_in_the_gmail_thread_of_our_request_matches_from_any_address() -> None:
    match = match_reply(
        None,
        None,
        "assistant@elsewhere.example",
        SENT,
        OPEN,
        gm_thread_id=1766161213520123456,
        sent_threads=THREADS,
    )
    assert match is not None and (match.rule, match.outreach_id, match.contact_id) == (
        "gmail_thread",
        10,
        1,
    )


def test_in_reply_to_wins_over_the_gmail_thread_and_the_thread_over_the_sender() -> None:
    by_ids = match_reply(
        "<a1@uni.example>", None, None, SENT, {}, gm_thread_id=42, sent_threads=THREADS
    )
    assert by_ids is not None and (by_ids.rule, by_ids.outreach_id) == ("thread", 10)
    by_thread = match_reply(None, None, "bo@org.example", SENT, OPEN, by_domain(OPEN), 42, THREADS)
    assert by_thread is not None and (by_thread.rule, by_thread.outreach_id) == ("gmail_thread", 30)


def test_a_gmail_thread_we_never_wrote_in_or_none_at_all_changes_nothing() -> None:
    assert match_reply(None, None, "news@shop.example", SENT, OPEN, None, 7, THREADS) is None
    assert match_reply(None, None, "news@shop.example", SENT, OPEN, None, None, THREADS) is None
    # Without thread ids (a server other than Gmail) the sender rule works as before.
    match = match_reply(None, None, "bo@org.example", SENT, OPEN, gm_thread_id=42)
    assert match is not None and match.rule == "sender"
