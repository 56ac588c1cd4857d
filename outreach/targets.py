"""Targets: a field or organisation with an ordered list of names, and its pipeline.

These use cases change a list without drafting; `fill_pipeline` drafts the next
names into free places. What the dashboard and the CLI do to a list, drafting
what a change frees at once, is in outreach.target_actions.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, joinedload

from outreach.asking_again import refusals
from outreach.contacts import get_contact
from outreach.db import owned_row
from outreach.drafts import cycle_message_counts, draft_request, maybe_auto_approve
from outreach.errors import NotFound, ValidationError
from outreach.models import (
    Contact,
    Message,
    Outreach,
    Target,
    TargetEntry,
    User,
)
from outreach.rules import cycle
from outreach.rules import field_phrase as field_phrase_rules
from outreach.rules.plain_text import (
    MAX_NAME,
    refuse_control_characters,
    refuse_too_long,
)
from outreach.rules.states import OutreachState
from outreach.timeline import record

# Kept here for the callers that import it from this module.
IN_FLIGHT = cycle.IN_FLIGHT

# Bounds the dashboard offers for a target's settings, so a slip of the keyboard
# can neither flood inboxes nor stall a list for months. (Code and tests may
# create a target with more places; the waits are checked everywhere.)
MAX_IN_FLIGHT_LIMIT = 10
MAX_WAIT_BUSINESS_DAYS = 30


def rules_of(target: Target) -> cycle.Rules:
    return cycle.Rules(
        max_in_flight=target.max_in_flight,
        wait_business_days=target.wait_business_days,
        send_follow_up=target.send_follow_up,
        give_up_business_days=target.give_up_business_days,
        allow_same_organisation=target.allow_same_organisation,
        paused=target.paused,
    )


def calendar_of(user: User) -> cycle.BusinessCalendar:
    """The user's business days: their time zone and holidays."""
    return cycle.BusinessCalendar.of(user.time_zone, user.holidays)


def _check_settings(
    max_in_flight: int, wait_business_days: int, give_up_business_days: int
) -> None:
    if max_in_flight < 1:
        raise ValidationError("at least one request must be allowed out at a time")
    if not 1 <= wait_business_days <= MAX_WAIT_BUSINESS_DAYS:
        raise ValidationError(
            "the wait before a follow-up must be between 1 and "
            f"{MAX_WAIT_BUSINESS_DAYS} business days"
        )
    if not 1 <= give_up_business_days <= MAX_WAIT_BUSINESS_DAYS:
        raise ValidationError(
            "the wait after the follow-up must be between 1 and "
            f"{MAX_WAIT_BUSINESS_DAYS} business days"
        )


def create_target(
    session: Session,
    user: User,
    name: str,
    contact_ids: Sequence[int],
    *,
    max_in_flight: int = 1,
    wait_business_days: int = 5,
    send_follow_up: bool = True,
    give_up_business_days: int = 5,
    allow_same_organisation: bool = False,
    field_phrase: str = "",
) -> Target:
    """Create a target holding the given contacts, in the given order.

    Without a `field_phrase` one is guessed from the name and left unconfirmed,
    so the dashboard asks the user to check it.
    """
    refuse_control_characters("the target's name", name)
    clean = " ".join(name.split())
    if not clean:
        raise ValidationError("a target needs a name, such as a field or an organisation")
    refuse_too_long("the target's name", clean, MAX_NAME)
    phrase = clean_field_phrase(field_phrase) if field_phrase.strip() else ""
    if max_in_flight < 1:
        raise ValidationError("at least one request must be allowed out at a time")
    if wait_business_days < 1:
        raise ValidationError("the wait before a follow-up must be at least one business day")
    _check_settings(max_in_flight, wait_business_days, give_up_business_days)
    taken = session.scalar(
        select(func.count())
        .select_from(Target)
        .where(Target.user_id == user.id, Target.name == clean)
    )
    if taken:
        raise ValidationError(f"you already have a target called '{clean}'")
    target = Target(
        user_id=user.id,
        name=clean,
        field_phrase=phrase or field_phrase_rules.guess_from_name(clean),
        field_phrase_confirmed=bool(phrase),
        max_in_flight=max_in_flight,
        wait_business_days=wait_business_days,
        send_follow_up=send_follow_up,
        give_up_business_days=give_up_business_days,
        allow_same_organisation=allow_same_organisation,
        paused=False,
    )
    session.add(target)
    session.flush()
    for contact_id in dict.fromkeys(contact_ids):
        add_to_target(session, user, target, contact_id)
    return target


def clean_field_phrase(phrase: str) -> str:
    """The phrase on one line, checked.

    :raise ValidationError: when it is empty, too long or holds a control character.
    """
    refuse_control_characters("the field phrase", phrase)
    clean = " ".join(phrase.split()).rstrip(".")
    if not clean:
        raise ValidationError(
            "say in a few words what the field is, as it reads in a sentence "
            "(for example “museum education”)"
        )
    if len(clean) > field_phrase_rules.MAX_LENGTH:
        raise ValidationError(
            f"the field phrase is too long: {field_phrase_rules.MAX_LENGTH} characters at most"
        )
    return clean


def add_to_target(session: Session, user: User, target: Target, contact_id: int) -> Outreach:
    """Append a contact to the end of the target's list."""
    contact = get_contact(session, user, contact_id)
    existing = session.scalar(
        select(Outreach).where(Outreach.target_id == target.id, Outreach.contact_id == contact.id)
    )
    if existing is not None:
        raise ValidationError(f"{contact.name} is already on the list for {target.name}")
    last = session.scalar(
        select(func.max(TargetEntry.position)).where(TargetEntry.target_id == target.id)
    )
    session.add(TargetEntry(target_id=target.id, contact_id=contact.id, position=(last or 0) + 1))
    outreach = Outreach(user_id=user.id, target_id=target.id, contact_id=contact.id)
    session.add(outreach)
    session.flush()
    return outreach


def get_target(session: Session, user: User, target_id: int) -> Target:
    """:raise NotFound: when the target does not exist or is someone else's."""
    return owned_row(session, Target, target_id, user.id, "target")


def list_targets(session: Session, user: User) -> list[Target]:
    query = select(Target).where(Target.user_id == user.id).order_by(Target.name)
    return list(session.scalars(query))


def outreaches_in_order(session: Session, target: Target) -> list[Outreach]:
    """The target's outreaches in the order of its list, as the database has them now."""
    rows = session.execute(
        select(Outreach)
        .join(
            TargetEntry,
            (TargetEntry.target_id == Outreach.target_id)
            & (TargetEntry.contact_id == Outreach.contact_id),
        )
        .where(Outreach.target_id == target.id)
        .order_by(TargetEntry.position)
        # Every caller reads the names: in the same query, not one query per name.
        .options(joinedload(Outreach.contact, innerjoin=True))
        # Another process may have moved an outreach since this session read it.
        .execution_options(populate_existing=True)
    )
    return list(rows.scalars())


def lock_target(session: Session, target_id: int) -> None:
    """Hold the target's row until the transaction ends.

    Whoever fills a target's places (the dashboard, the poller after a decline,
    the scheduler in any number of workers) takes this first, so two of them
    never both see a free place and both draft into it. On PostgreSQL the
    UPDATE takes the row lock; on SQLite any write takes the database's lock.
    """
    session.execute(
        update(Target)
        .where(Target.id == target_id)
        .values(max_in_flight=Target.max_in_flight)
        .execution_options(synchronize_session=False)
    )


def lock_targets(session: Session, target_ids: Collection[int]) -> None:
    """lock_target for many targets in one statement, taken in the order of their ids:
    two schedulers locking overlapping sets wait on each other, never in a circle."""
    if not target_ids:
        return
    in_order = select(Target.id).where(Target.id.in_(target_ids)).order_by(Target.id)
    session.execute(
        update(Target)
        .where(Target.id.in_(in_order.with_for_update()))
        .values(max_in_flight=Target.max_in_flight)
        .execution_options(synchronize_session=False)
    )


def _in_flight_elsewhere(session: Session, target: Target) -> set[int]:
    """Contacts with a request out on the user's other targets: one at a time per person."""
    return set(
        session.scalars(
            select(Outreach.contact_id).where(
                Outreach.user_id == target.user_id,
                Outreach.target_id != target.id,
                Outreach.state.in_(cycle.IN_FLIGHT),
            )
        )
    )


def fill_pipeline(
    session: Session, user: User, target: Target, now: datetime, *, locked: bool = False
) -> list[Message]:
    """Draft requests to the next names until the target's in-flight limit is reached.

    Skipped, and left on the list for later: do-not-contact names, a person with
    a request out on another target, and names at an organisation that already
    has someone in flight on this list, unless the target allows two at once.
    Never drafted: a person an earlier answer says not to ask again (outreach.asking_again).
    A paused target drafts nothing. Running it twice, or in two processes at
    once, changes nothing more. `locked`: the caller took the target's lock in this
    transaction already, so the names are read once, under it.
    """
    if not locked:
        if target.paused or not _next_names(session, target):
            # Nothing to draft: no lock taken, so a sweep over every list stays cheap.
            return []
        lock_target(session, target.id)
    session.refresh(target)
    drafted: list[Message] = []
    for outreach in _next_names(session, target):
        # _next_names read the limits draft_request checks, under the lock just taken.
        draft = draft_request(session, user, outreach, now, picked_under_lock=True)
        maybe_auto_approve(session, user, draft, now)
        drafted.append(draft)
    return drafted


def _next_names(session: Session, target: Target) -> list[Outreach]:
    """The outreaches to draft now, by the cycle's rules, as the database has them."""
    if target.paused:
        return []
    outreaches = outreaches_in_order(session, target)
    counts = cycle_message_counts(session, [outreach.id for outreach in outreaches])
    busy_contacts = _in_flight_elsewhere(session, target)
    planned = [o.contact_id for o in outreaches if o.state is OutreachState.PLANNED]
    held = refusals(session, target.user_id, planned, target.id)
    candidates = [
        cycle.Candidate(
            key=outreach.id,
            state=outreach.state,
            organisation=outreach.contact.organisation,
            do_not_contact=outreach.contact.do_not_contact,
            messages=counts.get(outreach.id, 0),
            busy_elsewhere=outreach.contact_id in busy_contacts,
            never_again=outreach.contact_id in held,
        )
        for outreach in outreaches
    ]
    by_id = {outreach.id: outreach for outreach in outreaches}
    return [by_id[key] for key in cycle.pick_next(candidates, rules_of(target))]


# --- managing a target ------------------------------------------------------------------------


def update_target_settings(
    session: Session,
    user: User,
    target: Target,
    *,
    max_in_flight: int,
    wait_business_days: int,
    send_follow_up: bool,
    give_up_business_days: int,
    allow_same_organisation: bool,
) -> None:
    """Change how the target's cycle runs.

    Clocks already running keep their dates; the new waits apply from the next
    message sent. More places, or allowing two at one organisation, may free a
    place: target_actions.change_settings also drafts the next names.

    :raise ValidationError: when a setting is out of range.
    """
    require_owner(user, target)
    _check_settings(max_in_flight, wait_business_days, give_up_business_days)
    target.max_in_flight = max_in_flight
    target.wait_business_days = wait_business_days
    target.send_follow_up = send_follow_up
    target.give_up_business_days = give_up_business_days
    target.allow_same_organisation = allow_same_organisation
    session.flush()


def pause_target(session: Session, user: User, target: Target, now: datetime) -> None:
    """Stop drafting for this target: no new requests, no follow-ups, no giving up.

    Clocks keep their dates; a step that falls due while paused is taken on resume
    (target_actions.resume_target).
    """
    set_paused(session, user, target, True, now)


def set_paused(session: Session, user: User, target: Target, paused: bool, now: datetime) -> None:
    """Pause or unpause the target's cycle, with a line on the timeline when it changes.

    Unpausing alone takes no step: target_actions.resume_target takes those due.
    """
    require_owner(user, target)
    if target.paused is paused:
        return
    target.paused = paused
    word = "paused" if paused else "resumed"
    record(
        session,
        user_id=user.id,
        kind=f"target:{word}",
        detail=f"list “{target.name}” {word}",
        now=now,
    )
    session.flush()


def require_owner(user: User, target: Target) -> None:
    if target.user_id != user.id:
        raise NotFound("no such target")


def entry_and_outreach(
    session: Session, user: User, target: Target, contact_id: int
) -> tuple[TargetEntry, Outreach]:
    require_owner(user, target)
    entry = session.scalar(
        select(TargetEntry).where(
            TargetEntry.target_id == target.id, TargetEntry.contact_id == contact_id
        )
    )
    outreach = session.scalar(
        select(Outreach).where(Outreach.target_id == target.id, Outreach.contact_id == contact_id)
    )
    if entry is None or outreach is None:
        raise NotFound("that contact is not on this list")
    return entry, outreach


def move_entry(
    session: Session, user: User, target: Target, contact_id: int, position: int
) -> None:
    """Move one name to `position` (1 is the top) of the target's list; the rest close up.

    :raise NotFound: when the contact is not on this list.
    :raise ValidationError: when the position is not on the list.
    """
    entry, _outreach = entry_and_outreach(session, user, target, contact_id)
    entries = list(
        session.scalars(
            select(TargetEntry)
            .where(TargetEntry.target_id == target.id)
            .order_by(TargetEntry.position, TargetEntry.id)
        )
    )
    if not 1 <= position <= len(entries):
        raise ValidationError(f"choose a place between 1 and {len(entries)} on the list")
    entries.remove(entry)
    entries.insert(position - 1, entry)
    for number, each in enumerate(entries, start=1):
        each.position = number
    session.flush()


# --- when the list runs out ------------------------------------------------------------------


@dataclass(frozen=True)
class Referral:
    contact_id: int
    name: str
    referred_by: str


@dataclass(frozen=True)
class TargetSummary:
    in_flight: int
    planned: int
    done: int
    # No name is left to draft (do-not-contact names, and those not asked again, do not count).
    list_exhausted: bool
    # What to do about it, in a sentence; empty while names are left.
    suggestion: str
    # People your contacts suggested who are on no list yet, oldest first.
    referrals: tuple[Referral, ...]
    # Names an earlier answer holds back (outreach.asking_again), do-not-contact included.
    held_back: int = 0


def unlisted_referrals(session: Session, user_id: int) -> list[Referral]:
    """Contacts someone suggested (referred_by set) who are on none of the user's targets."""
    listed = select(TargetEntry.contact_id).join(Target).where(Target.user_id == user_id)
    rows = session.scalars(
        select(Contact)
        .where(
            Contact.user_id == user_id,
            Contact.referred_by_id.is_not(None),
            Contact.do_not_contact.is_(False),
            Contact.id.not_in(listed),
        )
        .order_by(Contact.created_at, Contact.id)
    )
    return [
        Referral(contact.id, contact.name, contact.referred_by.name if contact.referred_by else "")
        for contact in rows
    ]


def target_summary(session: Session, target: Target) -> TargetSummary:
    """How far the list has got, and what to do when it runs out (referrals first)."""
    outreaches = outreaches_in_order(session, target)
    in_flight = sum(1 for outreach in outreaches if outreach.state in cycle.IN_FLIGHT)
    waiting = [o.contact_id for o in outreaches if o.state is OutreachState.PLANNED]
    held = refusals(session, target.user_id, waiting, target.id)
    planned = sum(
        1
        for outreach in outreaches
        if outreach.state is OutreachState.PLANNED
        and not outreach.contact.do_not_contact
        and outreach.contact_id not in held
    )
    held_back = sum(1 for outreach in outreaches if outreach.contact_id in held)
    done = len(outreaches) - in_flight - planned - held_back
    referrals = tuple(unlisted_referrals(session, target.user_id))
    suggestion = ""
    if planned == 0:
        if in_flight:
            suggestion = "No names are left after the ones in progress; add names to keep going."
        elif outreaches:
            suggestion = "Every name on this list has been tried; add names to keep going."
        else:
            suggestion = "This list is empty; add names to start."
        if referrals:
            people = ", ".join(
                f"{referral.name} (suggested by {referral.referred_by})"
                if referral.referred_by
                else referral.name
                for referral in referrals[:3]
            )
            suggestion += f" Start with the people your contacts suggested: {people}."
    return TargetSummary(
        in_flight=in_flight,
        planned=planned,
        done=done,
        list_exhausted=planned == 0,
        suggestion=suggestion,
        referrals=referrals,
        held_back=held_back,
    )
