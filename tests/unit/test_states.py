import pytest

from outreach.errors import InvalidTransition
from outreach.rules.states import ANSWERED, TRANSITIONS, apply, can_apply
from outreach.rules.states import OutreachState as S
from outreach.rules.states import Trigger as T


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


# The whole table, written out once more as the specification: every (state, trigger)
# pair not listed here must be refused.
EXPECTED: dict[tuple[S, T], S] = {
    (S.PLANNED, T.REQUEST_DRAFTED): S.DRAFTED,
    (S.PLANNED, T.STOPPED_BY_USER): S.STOPPED,
    (S.DRAFTED, T.REQUEST_SENT): S.WAITING,
    (S.DRAFTED, T.BOUNCE_RECEIVED): S.BOUNCED,
    (S.DRAFTED, T.STOPPED_BY_USER): S.STOPPED,
    (S.WAITING, T.FOLLOW_UP_SENT): S.FOLLOWED_UP,
    (S.WAITING, T.WAIT_EXPIRED): S.NO_REPLY,
    (S.WAITING, T.REPLY_RECEIVED): S.REPLIED,
    (S.WAITING, T.BOUNCE_RECEIVED): S.BOUNCED,
    (S.WAITING, T.DECLINE_RECEIVED): S.DECLINED,
    (S.WAITING, T.STOPPED_BY_USER): S.STOPPED,
    (S.FOLLOWED_UP, T.WAIT_EXPIRED): S.NO_REPLY,
    (S.FOLLOWED_UP, T.REPLY_RECEIVED): S.REPLIED,
    (S.FOLLOWED_UP, T.BOUNCE_RECEIVED): S.BOUNCED,
    (S.FOLLOWED_UP, T.DECLINE_RECEIVED): S.DECLINED,
    (S.FOLLOWED_UP, T.STOPPED_BY_USER): S.STOPPED,
    (S.NO_REPLY, T.REPLY_RECEIVED): S.REPLIED,
    (S.NO_REPLY, T.DECLINE_RECEIVED): S.DECLINED,
    (S.NO_REPLY, T.BOUNCE_RECEIVED): S.BOUNCED,
    (S.NO_REPLY, T.STOPPED_BY_USER): S.STOPPED,
    (S.REPLIED, T.DECLINE_RECEIVED): S.DECLINED,
    (S.REPLIED, T.MEETING_SET): S.MEETING_SET,
    (S.MEETING_SET, T.MEETING_HELD): S.MET,
    (S.MEETING_SET, T.MEETING_CANCELLED): S.REPLIED,
    (S.MET, T.THANK_YOU_SENT): S.THANKED,
    (S.BOUNCED, T.ADDRESS_CORRECTED): S.PLANNED,
}


@pytest.mark.parametrize("state", list(S))
@pytest.mark.parametrize("trigger", list(T))
def test_every_state_and_trigger(state: S, trigger: T) -> None:
    expected = EXPECTED.get((state, trigger))
    assert can_apply(state, trigger) is (expected is not None)
    if expected is None:
        with pytest.raises(InvalidTransition):
            apply(state, trigger)
    else:
        assert apply(state, trigger) is expected


def test_the_table_has_nothing_the_specification_lacks() -> None:
    assert TRANSITIONS == EXPECTED


def reachable_from(start: S) -> set[S]:
    seen = {start}
    frontier = [start]
    while frontier:
        state = frontier.pop()
        for (source, _trigger), target in TRANSITIONS.items():
            if source is state and target not in seen:
                seen.add(target)
                frontier.append(target)
    return seen


def test_every_state_is_reachable_from_the_list() -> None:
    assert reachable_from(S.PLANNED) == set(S)


@pytest.mark.parametrize("state", [S.DECLINED, S.STOPPED, S.THANKED])
def test_endings_are_final(state: S) -> None:
    assert reachable_from(state) == {state}


def test_a_bounce_ends_the_outreach_until_the_user_corrects_the_address() -> None:
    # Nothing the mailbox reads moves a bounced outreach: only the user's new address does,
    # and it goes back to the list, where drafting the request starts the cycle over.
    leaving = {trigger for (state, trigger) in TRANSITIONS if state is S.BOUNCED}
    assert leaving == {T.ADDRESS_CORRECTED}
    assert apply(S.BOUNCED, T.ADDRESS_CORRECTED) is S.PLANNED
    assert apply(S.PLANNED, T.REQUEST_DRAFTED) is S.DRAFTED


@pytest.mark.parametrize("state", [s for s in S if s is not S.BOUNCED])
def test_only_a_bounced_address_can_be_corrected(state: S) -> None:
    assert not can_apply(state, T.ADDRESS_CORRECTED)


def test_nothing_leads_back_into_the_automatic_cycle_after_a_human_answer() -> None:
    automatic = {S.PLANNED, S.DRAFTED, S.WAITING, S.FOLLOWED_UP, S.NO_REPLY}
    for state in ANSWERED:
        assert not reachable_from(state) & automatic


def test_a_follow_up_can_only_follow_a_request() -> None:
    sources = {source for (source, trigger) in TRANSITIONS if trigger is T.FOLLOW_UP_SENT}
    assert sources == {S.WAITING}
