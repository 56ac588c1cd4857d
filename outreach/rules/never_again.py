"""Who is never asked again, from any target (pure: docs/decisions/0019-never-asked-again.md).

The follow-up promises not to write again, and the guides say to move on after one
follow-up. So a person who declined, asked not to be contacted, whose address failed
for good, or who was written to twice without an answer is not drafted again when the
user puts them on another list. The person is their contact row (a user's contacts are
unique by address), so the rule reads every journey of that contact, on every target.

A user may ask again deliberately, one person on one list (an override, recorded on
the timeline); never someone marked do-not-contact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from outreach.rules.cycle import MAX_MESSAGES_PER_PERSON
from outreach.rules.states import OutreachState

# Journeys in which we wrote and nobody answered (yet): their messages add up.
UNANSWERED = frozenset(
    {
        OutreachState.WAITING,
        OutreachState.FOLLOWED_UP,
        OutreachState.NO_REPLY,
        OutreachState.STOPPED,
    }
)


class Why(StrEnum):
    DO_NOT_CONTACT = "do_not_contact"
    DECLINED = "declined"
    BOUNCED = "bounced"
    UNANSWERED = "unanswered"


@dataclass(frozen=True)
class Journey:
    """One of the person's journeys on a target, other than the one about to be drafted."""

    state: OutreachState
    changed_at: datetime
    # Requests and follow-ups sent to the address the person has now.
    sent_to_current_address: int
    # A message of this journey went to the address the person has now (for a bounce:
    # the address that failed is still theirs, so it would fail again).
    wrote_to_current_address: bool
    # When the last of those was sent (None when none was).
    last_sent_at: datetime | None = None


@dataclass(frozen=True)
class NeverAgain:
    """Why a person is not asked again, and since when (None for do-not-contact)."""

    why: Why
    since: datetime | None

    @property
    def may_override(self) -> bool:
        """The user may ask again deliberately, except someone who asked not to be contacted."""
        return self.why is not Why.DO_NOT_CONTACT

    def sentence(self, name: str, zone: ZoneInfo, now: datetime) -> str:
        """ "Dana Lee declined on 2 Dec; not asked again", in the user's zone."""
        on = _day(self.since, zone, now) if self.since is not None else ""
        if self.why is Why.DO_NOT_CONTACT:
            return f"{name} is marked do-not-contact; never written to again"
        if self.why is Why.DECLINED:
            return f"{name} declined on {on}; not asked again"
        if self.why is Why.BOUNCED:
            return (
                f"{name}'s address failed for good on {on}; not asked again "
                "(correct the address to write again)"
            )
        return f"{name} was written to twice without an answer (last on {on}); not asked again"


def _day(moment: datetime, zone: ZoneInfo, now: datetime) -> str:
    here = moment.astimezone(zone)
    text = f"{here.day} {here:%b}"
    return text if here.year == now.astimezone(zone).year else f"{text} {here.year}"


def never_again(do_not_contact: bool, journeys: Sequence[Journey]) -> NeverAgain | None:
    """Why this person must not be asked again, or None when they may be.

    Do-not-contact comes first (it has no override); then a decline, a hard bounce to
    the address they still have, and two messages without an answer, the latest first.
    """
    if do_not_contact:
        return NeverAgain(Why.DO_NOT_CONTACT, None)
    found: list[NeverAgain] = []
    for journey in journeys:
        if journey.state is OutreachState.DECLINED:
            found.append(NeverAgain(Why.DECLINED, journey.changed_at))
        elif journey.state is OutreachState.BOUNCED and journey.wrote_to_current_address:
            found.append(NeverAgain(Why.BOUNCED, journey.changed_at))
    unanswered = [
        journey
        for journey in journeys
        if journey.state in UNANSWERED and journey.sent_to_current_address
    ]
    if sum(journey.sent_to_current_address for journey in unanswered) >= MAX_MESSAGES_PER_PERSON:
        last = max(journey.last_sent_at or journey.changed_at for journey in unanswered)
        found.append(NeverAgain(Why.UNANSWERED, last))
    if not found:
        return None
    # The latest news is the one to tell.
    return max(found, key=lambda refusal: refusal.since.timestamp() if refusal.since else 0.0)
