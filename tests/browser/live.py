"""What the browser tests and the README screenshots share.

Debian's Chromium driven by Playwright's sync API, the dashboard served by a
real HTTP server in a thread, and seed data written through the core's use
cases (create_target, fill_pipeline, approve, record_sent, draft_follow_up).
The steps only a process does privately, the poller storing a reply or a
bounce and the wait running out, are written the way those processes write them.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from playwright.sync_api import Browser, Page, Playwright, ViewportSize
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from outreach.contacts import ContactInput, add_contact
from outreach.crypto import SecretBox
from outreach.drafts import approve, draft_follow_up
from outreach.models import (
    Contact,
    Direction,
    Message,
    MessageKind,
    MessageStatus,
    Outreach,
    Target,
    User,
)
from outreach.rules.compose import domain_of
from outreach.rules.cycle import business_days_between, is_business_day
from outreach.rules.states import Trigger
from outreach.sending import record_sent
from outreach.targets import create_target, fill_pipeline, outreaches_in_order
from outreach.timeline import advance
from tests.factories import make_mailbox, make_user

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
MISSING_CHROMIUM = (
    f"{CHROMIUM} not found: the browser tests drive Debian's Chromium. Install it with "
    "`sudo apt-get install -y --no-install-recommends chromium` "
    "(scripts/install-test-deps.sh does this). Do not run `playwright install`."
)
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
PASSWORD = "correct horse battery"
REPO = Path(__file__).resolve().parents[2]

# What a hostile stranger might write back; the dashboard must show it as text.
HOSTILE_REPLY = "Happy to talk! <script>alert(1)</script><img src=x onerror=alert(2)>"


def launch_chromium(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
    )


@contextmanager
def serving(app: Flask) -> Iterator[str]:
    """Serve `app` on a free port of 127.0.0.1 in a thread; yield its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="live-dashboard",
        daemon=True,
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        assert not thread.is_alive(), "the dashboard's server thread did not stop"


def log_in(page: Page, base_url: str, email: str, password: str = PASSWORD) -> None:
    """Log in through the login form, as a person would, and wait for the board."""
    page.goto(f"{base_url}/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base_url}/")


# --- Seed data -------------------------------------------------------------------------


def business_days_ago(now: datetime, days: int, *, at_hour: int = 9) -> datetime:
    """A moment on a business day, `days` business days before `now`, at `at_hour`:12."""
    moment = now.replace(hour=at_hour, minute=12, second=0, microsecond=0)
    while business_days_between(moment, now) < days or not is_business_day(moment.date()):
        moment -= timedelta(days=1)
    return min(moment, now - timedelta(minutes=5))


def approve_and_send(session: Session, user: User, draft: Message, at: datetime) -> None:
    """Approve `draft` at `at`; the worker records it sent 20 seconds later."""
    approve(session, user, draft.id, at)
    record_sent(session, draft.id, at + timedelta(seconds=20))


def send_follow_up(session: Session, user: User, request: Message, at: datetime) -> Message:
    """The one polite follow-up, drafted an hour before `at`, approved and sent at `at`."""
    outreach = session.get(Outreach, request.outreach_id)
    assert outreach is not None
    follow_up = draft_follow_up(session, user, outreach, at - timedelta(hours=1))
    approve_and_send(session, user, follow_up, at)
    return follow_up


def receive(
    session: Session,
    request: Message,
    kind: MessageKind,
    body: str,
    at: datetime,
    *,
    subject: str | None = None,
    sender: str | None = None,
) -> Message:
    """What the poller stores and records when an answer to `request` arrives."""
    outreach = session.get(Outreach, request.outreach_id)
    assert outreach is not None
    trigger = {
        MessageKind.REPLY: Trigger.REPLY_RECEIVED,
        MessageKind.BOUNCE: Trigger.BOUNCE_RECEIVED,
    }
    description = {
        MessageKind.REPLY: "reply received (matched by in_reply_to)",
        MessageKind.BOUNCE: "delivery failed: the message bounced (matched by bounce_body)",
    }
    from_address = sender or request.to_address
    message = Message(
        user_id=request.user_id,
        mailbox_id=request.mailbox_id,
        contact_id=request.contact_id,
        outreach_id=request.outreach_id,
        direction=Direction.INBOUND,
        kind=kind,
        status=MessageStatus.RECEIVED,
        message_id=f"<{secrets.token_hex(8)}@{domain_of(from_address)}>",
        in_reply_to=request.message_id,
        references=request.message_id or "",
        from_address=from_address,
        to_address=request.from_address,
        subject=subject if subject is not None else f"Re: {request.subject}",
        body_text=body,
        folder="INBOX",
        uidvalidity=1,
        uid=secrets.randbelow(10_000) + 1,
        received_at=at,
        match_rule="bounce_body" if kind is MessageKind.BOUNCE else "in_reply_to",
        created_at=at,
    )
    session.add(message)
    session.flush()
    advance(session, outreach, trigger[kind], at, description[kind], message.id)
    outreach.next_step_at = None
    return message


def create_target_at(
    session: Session, user: User, name: str, contact_ids: list[int], at: datetime, **options: Any
) -> Target:
    """create_target, dated `at`: the use case stamps the clock's time on the names it adds."""
    target = create_target(session, user, name, contact_ids, **options)
    target.created_at = at
    for outreach in outreaches_in_order(session, target):
        outreach.created_at = outreach.state_changed_at = at
    return target


def first_draft(drafted: list[Message]) -> Message:
    assert len(drafted) == 1, drafted
    return drafted[0]


@dataclass
class Seeded:
    """Who can log in, and the ids a test needs to look things up."""

    email: str
    password: str
    user_name: str
    contacts: dict[str, int] = field(default_factory=dict)
    draft_id: int = 0
    reply_id: int = 0


def _user(session: Session, box: SecretBox, name: str, email: str, introduction: str) -> User:
    user = make_user(session, email=email, name=name, password=PASSWORD, introduction=introduction)
    make_mailbox(
        session,
        user,
        box,
        imap_host="imap.mail.example",
        imap_port=993,
        smtp_host="smtp.mail.example",
        smtp_port=587,
    )
    return user


def _contacts(session: Session, user: User, people: list[ContactInput]) -> dict[str, Contact]:
    return {person.name: add_contact(session, user, person) for person in people}


def seed_dashboard(session: Session, box: SecretBox, now: datetime) -> Seeded:
    """The tests' world: three contacts over two targets; one draft waits, one contact replied.

    Science policy: Priya Raman (request drafted), Lena Fischer (on the list).
    Marine conservation: Tom Okafor, who answered with HTML meant to run.
    """
    user = _user(
        session,
        box,
        "Maya Lindqvist",
        "maya@student.example",
        "I am finishing an MSc in marine biology and want to move into science policy.",
    )
    people = _contacts(
        session,
        user,
        [
            ContactInput(
                email="priya.raman@policy.example",
                name="Priya Raman",
                role="Senior Analyst",
                organisation="Institute for Science Policy",
                how_found="your talk at the policy forum",
            ),
            ContactInput(
                email="lena.fischer@parliament.example",
                name="Lena Fischer",
                role="Science Adviser",
                organisation="Parliamentary Office of Science",
                how_found="the alumni network",
            ),
            ContactInput(
                email="tom.okafor@oceantrust.example",
                name="Tom Okafor",
                role="Programme Lead",
                organisation="Ocean Trust",
                how_found="the alumni network",
            ),
        ],
    )
    policy = create_target_at(
        session,
        user,
        "Science policy",
        [people["Priya Raman"].id, people["Lena Fischer"].id],
        now - timedelta(minutes=1),
        field_phrase="science policy",
    )
    draft = first_draft(fill_pipeline(session, user, policy, now))

    sent_at = business_days_ago(now, 3)
    marine = create_target_at(
        session,
        user,
        "Marine conservation",
        [people["Tom Okafor"].id],
        sent_at - timedelta(hours=1),
        field_phrase="marine conservation",
    )
    request = first_draft(fill_pipeline(session, user, marine, sent_at - timedelta(minutes=30)))
    approve_and_send(session, user, request, sent_at)
    reply = receive(session, request, MessageKind.REPLY, HOSTILE_REPLY, now - timedelta(hours=2))
    session.flush()
    return Seeded(
        email=user.email,
        password=PASSWORD,
        user_name=user.name,
        contacts={name: contact.id for name, contact in people.items()},
        draft_id=draft.id,
        reply_id=reply.id,
    )


SHOWCASE_PEOPLE = [
    # name, email, role, organisation, how found
    ("Priya Raman", "priya.raman@policy.example", "Senior Analyst",
     "Institute for Science Policy", "your talk at the policy forum"),
    ("Tom Okafor", "t.okafor@oldcouncil.example", "Research Officer",
     "City Climate Council", "the alumni network"),
    ("Lena Fischer", "lena.fischer@parliament.example", "Science Adviser",
     "Parliamentary Office of Science", "the alumni network"),
    ("Jonas Berg", "jonas.berg@evidence.example", "Policy Fellow",
     "Evidence Network", "a panel recording from EuroScience"),
    ("Sofia Alvarez", "sofia@oceantrust.example", "Programme Lead",
     "Ocean Trust", "your article on coastal restoration"),
    ("Hannah Weber", "h.weber@seawatch.example", "Campaigns Manager",
     "SeaWatch", "the careers fair in March"),
    ("Daniel Kim", "daniel.kim@blueharbour.example", "Head of Partnerships",
     "Blue Harbour Foundation", "the alumni network"),
    ("Amara Nwosu", "amara@reefdata.example", "Data Scientist",
     "ReefData", "your post on open ocean data"),
    ("Marcus Lee", "marcus.lee@tidal.example", "Co-founder",
     "Tidal Analytics", "Professor Hale"),
]  # fmt: skip

SOFIA_REPLY = """Hi Maya,

Thanks for getting in touch, and congratulations on the MSc. I'd be glad to talk.
Would Thursday at 15:00 work for you? A video call is easiest for me.

Best,
Sofia
"""

BOUNCE = """This is the mail system at host mx.oldcouncil.example.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

<t.okafor@oldcouncil.example>: host mx.oldcouncil.example said:
    550 5.1.1 User unknown
"""


def seed_showcase(session: Session, box: SecretBox, now: datetime) -> Seeded:
    """A realistic month for the README: three targets, one contact in each kind of state."""
    user = _user(
        session,
        box,
        "Maya Lindqvist",
        "maya@student.example",
        "I am finishing an MSc in marine biology at Lund and I am curious how scientists "
        "end up advising on policy.",
    )
    people = _contacts(
        session,
        user,
        [
            ContactInput(email=email, name=name, role=role, organisation=org, how_found=how)
            for name, email, role, org, how in SHOWCASE_PEOPLE
        ],
    )

    def ids(*names: str) -> list[int]:
        return [people[name].id for name in names]

    # Science policy, two requests out at a time: Priya is waiting, Tom's address
    # bounced, so Lena's request was drafted next; Jonas is still on the list.
    start = business_days_ago(now, 8)
    policy = create_target_at(
        session,
        user,
        "Science policy",
        ids("Priya Raman", "Tom Okafor", "Lena Fischer", "Jonas Berg"),
        start - timedelta(hours=1),
        field_phrase="science policy",
        max_in_flight=2,
    )
    priya_draft, tom_draft = fill_pipeline(session, user, policy, start)
    approve_and_send(session, user, tom_draft, business_days_ago(now, 4, at_hour=10))
    receive(
        session,
        tom_draft,
        MessageKind.BOUNCE,
        BOUNCE,
        business_days_ago(now, 4, at_hour=10) + timedelta(minutes=1),
        subject="Undelivered Mail Returned to Sender",
        sender="MAILER-DAEMON@mx.oldcouncil.example",
    )
    approve_and_send(session, user, priya_draft, business_days_ago(now, 2, at_hour=8))
    fill_pipeline(session, user, policy, now - timedelta(minutes=40))

    # Marine conservation NGOs, one at a time: Hannah never answered, Sofia replied,
    # Daniel's request waits for approval.
    ngos = create_target_at(
        session,
        user,
        "Marine conservation NGOs",
        ids("Hannah Weber", "Sofia Alvarez", "Daniel Kim"),
        business_days_ago(now, 22, at_hour=8),
        field_phrase="marine conservation",
    )
    hannah = first_draft(fill_pipeline(session, user, ngos, business_days_ago(now, 22)))
    approve_and_send(session, user, hannah, business_days_ago(now, 21))
    send_follow_up(session, user, hannah, business_days_ago(now, 14))
    hannah_outreach = session.get(Outreach, hannah.outreach_id)
    assert hannah_outreach is not None
    advance(
        session,
        hannah_outreach,
        Trigger.WAIT_EXPIRED,
        business_days_ago(now, 7),
        "no answer after the follow-up; moving on to the next name",
    )
    hannah_outreach.next_step_at = None
    sofia = first_draft(fill_pipeline(session, user, ngos, business_days_ago(now, 7)))
    approve_and_send(session, user, sofia, business_days_ago(now, 6))
    receive(session, sofia, MessageKind.REPLY, SOFIA_REPLY, business_days_ago(now, 1, at_hour=16))
    fill_pipeline(session, user, ngos, now - timedelta(minutes=25))

    # Ocean data start-ups: Amara was followed up; Marcus is next.
    data = create_target_at(
        session,
        user,
        "Ocean data start-ups",
        ids("Amara Nwosu", "Marcus Lee"),
        business_days_ago(now, 10, at_hour=8),
        wait_business_days=5,
        field_phrase="ocean data start-ups",
    )
    amara = first_draft(fill_pipeline(session, user, data, business_days_ago(now, 10)))
    approve_and_send(session, user, amara, business_days_ago(now, 9))
    send_follow_up(session, user, amara, business_days_ago(now, 3, at_hour=11))
    session.flush()

    drafts = [
        outreach
        for target in (policy, ngos)
        for outreach in outreaches_in_order(session, target)
        if outreach.state.value == "drafted"
    ]
    assert len(drafts) == 2, drafts
    return Seeded(
        email=user.email,
        password=PASSWORD,
        user_name=user.name,
        contacts={name: contact.id for name, contact in people.items()},
    )
