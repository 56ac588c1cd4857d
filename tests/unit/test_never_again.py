"""Who is never asked again (outreach.rules.never_again): the rule, without a database."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from outreach.rules.cycle import Candidate, Rules, pick_next
from outreach.rules.never_again import Journey, Why, never_again
from outreach.rules.states import OutreachState as S

DEC_2 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
LONDON = ZoneInfo("Europe/London")


def journey(state: S, sent: int = 1, *, current: bool = True, at: datetime = DEC_2) -> Journey:
    return Journey(state, at, sent if current else 0, current, at if sent else None)


def test_a_person_never_written_to_may_be_asked() -> None:
    assert never_again(False, []) is None
    assert never_again(False, [journey(S.PLANNED, 0)]) is None


def test_a_decline_on_another_list_holds_them_back_and_says_when() -> None:
    refusal = never_again(False, [journey(S.DECLINED)])
    assert refusal is not None and refusal.why is Why.DECLINED
    assert (
        refusal.sentence("Dana Lee", LONDON, NOW) == "Dana Lee declined on 2 Dec; not asked again"
    )
    assert refusal.may_override


def test_do_not_contact_wins_and_cannot_be_overridden() -> None:
    refusal = never_again(True, [journey(S.DECLINED)])
    assert refusal is not None and refusal.why is Why.DO_NOT_CONTACT
    assert not refusal.may_override
    assert "do-not-contact" in refusal.sentence("Dana Lee", LONDON, NOW)


def test_a_hard_bounce_holds_back_only_while_the_address_is_the_one_that_failed() -> None:
    failed = never_again(False, [journey(S.BOUNCED)])
    assert failed is not None and failed.why is Why.BOUNCED
    assert "failed for good on 2 Dec" in failed.sentence("Dana Lee", LONDON, NOW)
    # The user corrected the address since: the new one has never failed.
    assert never_again(False, [journey(S.BOUNCED, current=False)]) is None


def test_two_messages_without_an_answer_hold_back_one_does_not() -> None:
    assert never_again(False, [journey(S.NO_REPLY, 1)]) is None
    twice = never_again(False, [journey(S.NO_REPLY, 2)])
    assert twice is not None and twice.why is Why.UNANSWERED
    assert twice.sentence("Dana Lee", LONDON, NOW) == (
        "Dana Lee was written to twice without an answer (last on 2 Dec); not asked again"
    )
    # One request on each of two lists, neither answered, is twice too.
    assert never_again(False, [journey(S.NO_REPLY, 1), journey(S.STOPPED, 1)]) is not None


def test_an_answer_on_a_list_is_not_silence() -> None:
    for answered in (S.REPLIED, S.MEETING_SET, S.MET, S.THANKED):
        assert never_again(False, [journey(answered, 2)]) is None


def test_the_latest_reason_is_the_one_told() -> None:
    later = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
    refusal = never_again(False, [journey(S.NO_REPLY, 2), journey(S.DECLINED, at=later)])
    assert refusal is not None and refusal.why is Why.DECLINED


def test_the_day_is_the_users_and_the_year_shows_when_it_is_not_this_one() -> None:
    late = datetime(2025, 12, 2, 23, 30, tzinfo=UTC)
    refusal = never_again(False, [journey(S.DECLINED, at=late)])
    assert refusal is not None
    assert "on 3 Dec 2025" in refusal.sentence("Dana", ZoneInfo("Pacific/Auckland"), NOW)


def test_the_pipeline_never_picks_a_held_back_name_and_moves_to_the_next() -> None:
    names = [
        Candidate(
            key=1, state=S.PLANNED, organisation="Museum", do_not_contact=False, never_again=True
        ),
        Candidate(key=2, state=S.PLANNED, organisation="Gallery", do_not_contact=False),
    ]
    assert pick_next(names, Rules(max_in_flight=1)) == [2]
