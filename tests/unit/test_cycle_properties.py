"""The cycle's rules hold over thousands of random event sequences (hypothesis).

The model below is a target with several contacts, kept in memory. It takes its
decisions from the same pure functions the use cases call (outreach.rules.cycle and
outreach.rules.states): which step is due, which names to draft next, where the clock
goes after a send or an automatic reply. Around them it does what the use cases
do with the database: drafts, approvals, sends and the guards before a send.

After every event the rules a user relies on are checked: never more than two
messages to a person, never a message after a person replied, never one to a
do-not-contact address, never two people at one organisation in flight unless
the target allows it, never more in flight than the target allows, the list
keeps moving while it can, and running the scheduler twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from outreach.rules import cycle
from outreach.rules.states import ANSWERED, OutreachState, Trigger, apply, can_apply

S = OutreachState
START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday
CALENDAR = cycle.BusinessCalendar(
    cycle.zone_of("Europe/Berlin"),
    frozenset({date(2026, 12, 24), date(2026, 12, 25), date(2026, 12, 31), date(2027, 1, 1)}),
)
UNSENT = ("draft", "approved")


@dataclass
class Mail:
    kind: str  # "request" or "follow_up"
    status: str  # draft, approved, sent, cancelled


@dataclass
class Person:
    organisation: str
    do_not_contact: bool
    state: OutreachState = S.PLANNED
    next_step_at: datetime | None = None
    handled_by_user: bool = False
    away_until: date | None = None
    mails: list[Mail] = field(default_factory=list)
    # What the rules are checked against, recorded as things happen.
    replied: bool = False
    sent_after_reply: int = 0
    sent_while_do_not_contact: int = 0

    def counted(self) -> int:
        return sum(1 for mail in self.mails if mail.status != "cancelled")

    def sent(self) -> int:
        return sum(1 for mail in self.mails if mail.status == "sent")

    def cancel_unsent(self, kinds: tuple[str, ...] = ("request", "follow_up")) -> None:
        for mail in self.mails:
            if mail.kind in kinds and mail.status in UNSENT:
                mail.status = "cancelled"


@dataclass
class Model:
    rules: cycle.Rules
    people: list[Person]
    now: datetime = START

    # --- what the use cases do ----------------------------------------------------------

    def advance(self, person: Person, trigger: Trigger) -> None:
        person.state = apply(person.state, trigger)

    def fill(self) -> None:
        """targets.fill_pipeline."""
        candidates = [
            cycle.Candidate(i, p.state, p.organisation, p.do_not_contact, p.counted())
            for i, p in enumerate(self.people)
        ]
        for index in cycle.pick_next(candidates, self.rules):
            person = self.people[index]
            assert not person.do_not_contact and person.counted() < cycle.MAX_MESSAGES_PER_PERSON
            person.mails.append(Mail("request", "draft"))
            self.advance(person, Trigger.REQUEST_DRAFTED)

    def scheduler(self) -> None:
        """scheduler.run_due_steps: the clock's steps, then filling the list."""
        for person in self.people:
            follow_ups = [m for m in person.mails if m.kind == "follow_up"]
            live = [m for m in follow_ups if m.status != "cancelled"]
            due = cycle.Due(
                state=person.state,
                next_step_at=person.next_step_at,
                handled_by_user=person.handled_by_user,
                messages=person.counted(),
                follow_up_exists=bool(follow_ups),
                follow_up_in_outbox=any(m.status == "approved" for m in live),
            )
            step = cycle.due_step(due, self.rules, self.now)
            if step is cycle.Step.NOTHING:
                continue
            person.next_step_at = cycle.next_step_after(step, self.rules, self.now, CALENDAR)
            if step is cycle.Step.DRAFT_FOLLOW_UP:
                # drafts.draft_follow_up's guards
                assert person.state is S.WAITING and not person.handled_by_user
                if person.do_not_contact or person.counted() >= cycle.MAX_MESSAGES_PER_PERSON:
                    step = cycle.Step.GIVE_UP
                else:
                    person.mails.append(Mail("follow_up", "draft"))
            if step is cycle.Step.GIVE_UP:
                person.cancel_unsent(("follow_up",))
                self.advance(person, Trigger.WAIT_EXPIRED)
                person.next_step_at = None
                self.fill()
        if not self.rules.paused:
            self.fill()

    def approve(self, index: int) -> None:
        person = self.people[index]
        for mail in person.mails:
            if mail.status == "draft" and not person.do_not_contact:
                mail.status = "approved"
                return

    def send(self, index: int) -> None:
        """sending.deliver: the guard just before sending, then record_sent."""
        person = self.people[index]
        mail = next((m for m in person.mails if m.status == "approved"), None)
        if mail is None:
            return
        no_more = ANSWERED | {S.BOUNCED, S.STOPPED}
        if (
            person.do_not_contact
            or (mail.kind == "follow_up" and person.handled_by_user)
            or person.state in no_more
        ):
            mail.status = "cancelled"
            return
        mail.status = "sent"
        person.sent_after_reply += int(person.replied)
        person.sent_while_do_not_contact += int(person.do_not_contact)
        trigger = Trigger.REQUEST_SENT if mail.kind == "request" else Trigger.FOLLOW_UP_SENT
        if can_apply(person.state, trigger):
            self.advance(person, trigger)
            person.next_step_at = (
                None
                if person.handled_by_user
                else cycle.clock_after_sending(person.state, self.rules, self.now, CALENDAR)
            )

    def inbound(self, index: int, trigger: Trigger) -> None:
        """watching._apply for a reply, a decline or a hard bounce."""
        person = self.people[index]
        if not person.sent():
            return  # nobody answers a message they never got
        if trigger is Trigger.REPLY_RECEIVED:
            person.replied = True
        if not can_apply(person.state, trigger):
            return
        self.advance(person, trigger)
        person.next_step_at = None
        person.away_until = None
        person.cancel_unsent()
        if trigger is not Trigger.REPLY_RECEIVED:
            self.fill()

    def auto_reply(self, index: int, days_away: int | None) -> None:
        person = self.people[index]
        if not person.sent() or person.state not in cycle.CLOCKED:
            return
        back = None if days_away is None else CALENDAR.local_date(self.now) + timedelta(days_away)
        before = person.next_step_at
        person.next_step_at = cycle.clock_after_auto_reply(before, back, self.now, CALENDAR)
        if before is not None:
            assert person.next_step_at is not None and person.next_step_at >= before
        if back is not None and before is not None:
            person.away_until = back

    def own_message(self, index: int) -> None:
        person = self.people[index]
        if person.sent() and person.state in cycle.CLOCKED:
            person.handled_by_user = True
            person.next_step_at = None
            person.cancel_unsent(("follow_up",))

    def stop(self, index: int) -> None:
        """target_actions.remove_from_target for a name in progress."""
        person = self.people[index]
        if can_apply(person.state, Trigger.STOPPED_BY_USER):
            person.cancel_unsent()
            self.advance(person, Trigger.STOPPED_BY_USER)
            person.next_step_at = None
            self.fill()

    def mark_do_not_contact(self, index: int) -> None:
        self.people[index].do_not_contact = True

    def set_paused(self, paused: bool) -> None:
        self.rules = cycle.Rules(**{**self.rules.__dict__, "paused": paused})
        if not paused:
            self.scheduler()

    def snapshot(self) -> tuple[object, ...]:
        return tuple(
            (
                p.state,
                p.next_step_at,
                p.handled_by_user,
                p.away_until,
                p.do_not_contact,
                tuple((m.kind, m.status) for m in p.mails),
            )
            for p in self.people
        )

    # --- the rules -------------------------------------------------------------------------

    def check(self) -> None:
        in_flight = [p for p in self.people if p.state in cycle.IN_FLIGHT]
        assert len(in_flight) <= self.rules.max_in_flight
        if not self.rules.allow_same_organisation:
            organisations = [cycle.organisation_key(p.organisation) for p in in_flight]
            named = [o for o in organisations if o]
            assert len(named) == len(set(named)), organisations
        for person in self.people:
            assert person.counted() <= cycle.MAX_MESSAGES_PER_PERSON
            assert person.sent_after_reply == 0
            assert person.sent_while_do_not_contact == 0
            assert sum(1 for m in person.mails if m.kind == "request") <= 1
            assert sum(1 for m in person.mails if m.kind == "follow_up") <= 1
            if person.state in ANSWERED:
                assert person.next_step_at is None
                assert not [m for m in person.mails if m.status in UNSENT]
            if person.state not in cycle.CLOCKED:
                assert person.next_step_at is None
            if person.handled_by_user:
                assert person.next_step_at is None
                assert not [m for m in person.mails if m.kind == "follow_up" and m.status in UNSENT]

    def keeps_moving(self) -> None:
        """After the scheduler, a free place is used whenever some name could take it."""
        if self.rules.paused:
            return
        candidates = [
            cycle.Candidate(i, p.state, p.organisation, p.do_not_contact, p.counted())
            for i, p in enumerate(self.people)
        ]
        assert cycle.pick_next(candidates, self.rules) == []


ORGANISATIONS = ["Acme", "acme ", "Blue Harbour", "", "Ocean Trust"]

people_strategy = st.lists(
    st.builds(
        Person,
        organisation=st.sampled_from(ORGANISATIONS),
        # Mostly people who may be written to; now and then one who may not.
        do_not_contact=st.sampled_from([False, False, False, True]),
    ),
    min_size=1,
    max_size=6,
)

rules_strategy = st.builds(
    cycle.Rules,
    max_in_flight=st.integers(1, 3),
    wait_business_days=st.integers(1, 7),
    send_follow_up=st.booleans(),
    give_up_business_days=st.integers(1, 7),
    allow_same_organisation=st.booleans(),
    paused=st.just(False),
)

# Time passing and the user approving what the cycle drafted are the common events;
# answers, stops and the rest are rarer, as in life.
KINDS = [
    *["time"] * 6,
    *["approve_and_send_all"] * 4,
    "approve",
    "send",
    "reply",
    "decline",
    "bounce",
    "auto_reply",
    "own_message",
    "stop",
    "do_not_contact",
    "pause",
    "resume",
]

Event = tuple[str, int, int | None]


def decode(raw: bytes) -> list[Event]:
    """Three bytes an event: which kind, a number (hours passing, or whom), a return date.

    Drawing one byte string rather than a list of structured events keeps the
    search fast enough for thousands of sequences, and it still shrinks well.
    """
    events: list[Event] = []
    for start in range(0, len(raw) - 2, 3):
        kind, number, days = raw[start : start + 3]
        events.append((KINDS[kind % len(KINDS)], number, None if days >= 200 else days % 36 - 5))
    return events


events_strategy = st.binary(min_size=30, max_size=150).map(decode)


def play(model: Model, event: Event) -> None:
    kind, number, days = event
    index = number % len(model.people)
    if kind == "time":
        model.now += timedelta(hours=number + 1)
    elif kind == "approve_and_send_all":
        for each in range(len(model.people)):
            model.approve(each)
            model.send(each)
    elif kind == "approve":
        model.approve(index)
    elif kind == "send":
        model.send(index)
    elif kind == "reply":
        model.inbound(index, Trigger.REPLY_RECEIVED)
    elif kind == "decline":
        model.inbound(index, Trigger.DECLINE_RECEIVED)
    elif kind == "bounce":
        model.inbound(index, Trigger.BOUNCE_RECEIVED)
    elif kind == "auto_reply":
        model.auto_reply(index, days)
    elif kind == "own_message":
        model.own_message(index)
    elif kind == "stop":
        model.stop(index)
    elif kind == "do_not_contact":
        model.mark_do_not_contact(index)
    elif kind == "pause":
        model.set_paused(True)
    elif kind == "resume":
        model.set_paused(False)


@settings(max_examples=2000, deadline=None)
@given(people=people_strategy, rules=rules_strategy, events=events_strategy)
def test_the_cycle_rules_hold_over_random_event_sequences(
    people: list[Person], rules: cycle.Rules, events: list[Event]
) -> None:
    model = Model(rules, people)
    model.scheduler()
    model.check()
    for event in events:
        play(model, event)
        model.check()
        model.scheduler()
        model.check()
        model.keeps_moving()
        # Idempotent: a second run at the same moment changes nothing.
        before = model.snapshot()
        model.scheduler()
        assert model.snapshot() == before


@settings(max_examples=200, deadline=None)
@given(rules=rules_strategy, organisations=st.lists(st.sampled_from(ORGANISATIONS), max_size=8))
def test_silence_walks_down_the_list_with_one_follow_up_each(
    rules: cycle.Rules, organisations: list[str]
) -> None:
    """Nobody ever answers and every draft is approved and sent: each person gets the
    request and, if the target sends one, one follow-up; then the next name is up."""
    model = Model(rules, [Person(organisation, False) for organisation in organisations])
    for _ in range(600):
        model.scheduler()
        for index in range(len(model.people)):
            model.approve(index)
            model.send(index)
        model.check()
        if all(p.state is S.NO_REPLY for p in model.people):
            break
        model.now += timedelta(hours=12)
    assert all(p.state is S.NO_REPLY for p in model.people)
    expected = 2 if rules.send_follow_up else 1
    assert all(p.sent() == expected for p in model.people)
