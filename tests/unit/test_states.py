import pytest

from outreach.errors import InvalidTransition
from outreach.states import OutreachState as S
from outreach.states import Trigger as T
from outreach.states import apply, can_apply


def test_request_cycle_to_reply() -> None:
    state = S.PLANNED
    for trigger in (T.REQUEST_DRAFTED, T.REQUEST_SENT, T.FOLLOW_UP_SENT, T.REPLY_RECEIVED):
        state = apply(state, trigger)
    assert state is S.REPLIED


def test_reply_while_waiting_stops_the_cycle() -> None:
    assert apply(S.WAITING, T.REPLY_RECEIVED) is S.REPLIED
    assert not can_apply(S.REPLIED, T.FOLLOW_UP_SENT)
    assert not can_apply(S.REPLIED, T.WAIT_EXPIRED)


def test_late_reply_after_no_reply_still_counts() -> None:
    assert apply(S.NO_REPLY, T.REPLY_RECEIVED) is S.REPLIED


def test_bounce_and_decline_end_the_outreach() -> None:
    assert apply(S.WAITING, T.BOUNCE_RECEIVED) is S.BOUNCED
    assert apply(S.FOLLOWED_UP, T.DECLINE_RECEIVED) is S.DECLINED


def test_a_second_follow_up_is_refused() -> None:
    with pytest.raises(InvalidTransition, match="follow_up_sent.*followed_up"):
        apply(S.FOLLOWED_UP, T.FOLLOW_UP_SENT)


def test_nothing_is_sent_before_drafting() -> None:
    with pytest.raises(InvalidTransition):
        apply(S.PLANNED, T.REQUEST_SENT)


def test_meeting_path() -> None:
    state = S.REPLIED
    for trigger in (T.MEETING_SET, T.MEETING_HELD, T.THANK_YOU_SENT):
        state = apply(state, trigger)
    assert state is S.THANKED


@pytest.mark.parametrize("state", [S.REPLIED, S.BOUNCED, S.DECLINED, S.MET, S.THANKED])
def test_user_cannot_stop_what_is_already_over(state: S) -> None:
    assert not can_apply(state, T.STOPPED_BY_USER)
