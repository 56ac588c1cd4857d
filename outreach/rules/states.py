"""The outreach state machine: states, triggers and the one table of allowed steps.

An outreach is one contact's journey within one target. Every change of state
goes through `apply`, which refuses a step the table does not allow, so the
rules of the cycle are written down in exactly one place.
"""

from __future__ import annotations

from enum import StrEnum

from outreach.errors import InvalidTransition


class OutreachState(StrEnum):
    """Where a contact stands in a target; stored by value in the database."""

    # On the target's list; nothing written to them yet.
    PLANNED = "planned"
    # A request draft waits for the user's approval.
    DRAFTED = "drafted"
    # The request went out; the clock for a follow-up is running.
    WAITING = "waiting"
    # The one polite follow-up went out, in the same thread.
    FOLLOWED_UP = "followed_up"
    # A person answered: all automation stops for this contact.
    REPLIED = "replied"
    # No answer after the follow-up's wait: the next name gets a request.
    NO_REPLY = "no_reply"
    BOUNCED = "bounced"
    DECLINED = "declined"
    MEETING_SET = "meeting_set"
    MET = "met"
    THANKED = "thanked"
    # Taken off the cycle by the user (or marked do-not-contact).
    STOPPED = "stopped"


class Trigger(StrEnum):
    """What can happen to an outreach."""

    REQUEST_DRAFTED = "request_drafted"
    REQUEST_SENT = "request_sent"
    FOLLOW_UP_SENT = "follow_up_sent"
    REPLY_RECEIVED = "reply_received"
    BOUNCE_RECEIVED = "bounce_received"
    DECLINE_RECEIVED = "decline_received"
    WAIT_EXPIRED = "wait_expired"
    MEETING_SET = "meeting_set"
    MEETING_HELD = "meeting_held"
    MEETING_CANCELLED = "meeting_cancelled"
    THANK_YOU_SENT = "thank_you_sent"
    STOPPED_BY_USER = "stopped_by_user"
    # The user corrected a bounced address: the request may be written again, to the new one.
    ADDRESS_CORRECTED = "address_corrected"


S = OutreachState
T = Trigger

# The allowed steps. A (state, trigger) pair that is absent is refused.
TRANSITIONS: dict[tuple[OutreachState, Trigger], OutreachState] = {
    (S.PLANNED, T.REQUEST_DRAFTED): S.DRAFTED,
    (S.DRAFTED, T.REQUEST_SENT): S.WAITING,
    (S.WAITING, T.FOLLOW_UP_SENT): S.FOLLOWED_UP,
    (S.WAITING, T.WAIT_EXPIRED): S.NO_REPLY,
    (S.FOLLOWED_UP, T.WAIT_EXPIRED): S.NO_REPLY,
    (S.WAITING, T.REPLY_RECEIVED): S.REPLIED,
    (S.FOLLOWED_UP, T.REPLY_RECEIVED): S.REPLIED,
    # A late answer still counts: the person wrote back after all.
    (S.NO_REPLY, T.REPLY_RECEIVED): S.REPLIED,
    # The server refused the address while we were sending the request itself.
    (S.DRAFTED, T.BOUNCE_RECEIVED): S.BOUNCED,
    (S.WAITING, T.BOUNCE_RECEIVED): S.BOUNCED,
    (S.FOLLOWED_UP, T.BOUNCE_RECEIVED): S.BOUNCED,
    (S.WAITING, T.DECLINE_RECEIVED): S.DECLINED,
    (S.FOLLOWED_UP, T.DECLINE_RECEIVED): S.DECLINED,
    (S.REPLIED, T.DECLINE_RECEIVED): S.DECLINED,
    # Late news after giving up still tells the truth about the person and the address.
    (S.NO_REPLY, T.DECLINE_RECEIVED): S.DECLINED,
    (S.NO_REPLY, T.BOUNCE_RECEIVED): S.BOUNCED,
    (S.REPLIED, T.MEETING_SET): S.MEETING_SET,
    (S.MEETING_SET, T.MEETING_HELD): S.MET,
    # Called off: back to a conversation in progress, ready for a new date.
    (S.MEETING_SET, T.MEETING_CANCELLED): S.REPLIED,
    (S.MET, T.THANK_YOU_SENT): S.THANKED,
    # Back to the list with a working address; drafting the request moves it on as usual.
    (S.BOUNCED, T.ADDRESS_CORRECTED): S.PLANNED,
}
for _state in (S.PLANNED, S.DRAFTED, S.WAITING, S.FOLLOWED_UP, S.NO_REPLY):
    TRANSITIONS[(_state, T.STOPPED_BY_USER)] = S.STOPPED

# States in which a message from us is still out and an answer is awaited.
AWAITING_ANSWER = frozenset({S.WAITING, S.FOLLOWED_UP, S.NO_REPLY})

# Further replies in these states are recorded on the timeline but change nothing.
ANSWERED = frozenset({S.REPLIED, S.DECLINED, S.MEETING_SET, S.MET, S.THANKED})


# A misread message can be corrected by the user: the outreach then returns to where
# it stood before that message moved it. Only these returns are allowed, and only
# while nothing else has happened since (outreach.corrections checks that).
CORRECTABLE: dict[OutreachState, frozenset[OutreachState]] = {
    S.REPLIED: frozenset({S.WAITING, S.FOLLOWED_UP, S.NO_REPLY}),
    S.DECLINED: frozenset({S.WAITING, S.FOLLOWED_UP, S.NO_REPLY, S.REPLIED}),
    S.BOUNCED: frozenset({S.DRAFTED, S.WAITING, S.FOLLOWED_UP, S.NO_REPLY}),
}


def can_revert(state: OutreachState, to: OutreachState) -> bool:
    return to in CORRECTABLE.get(state, frozenset())


def apply(state: OutreachState, trigger: Trigger) -> OutreachState:
    """Return the state that `trigger` leads to from `state`.

    :raise InvalidTransition: when the table has no such step.
    """
    try:
        return TRANSITIONS[(state, trigger)]
    except KeyError:
        raise InvalidTransition(state.value, trigger.value) from None


def can_apply(state: OutreachState, trigger: Trigger) -> bool:
    return (state, trigger) in TRANSITIONS
