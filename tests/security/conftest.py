"""Two users of one deployment, each with one of everything, and the tools to compare.

Alice owns a mailbox, contacts on a target, a draft, a sent request with a reply, a
meeting, a message whose delivery is unknown, her own template and an import in
progress. Bob owns the same, made the same way. The route tests request Alice's
ids as Bob and check the database (and the import files) before and after.

A route whose URL carries an id is filled from `ROUTE_IDS`: a new route with a new
kind of id fails the ownership test until its id is added here.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from flask import Flask
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from outreach import clock, meetings
from outreach.cohort_reports import submit_report
from outreach.cohorts import create_cohort, join_cohort
from outreach.config import Settings
from outreach.crypto import SecretBox
from outreach.meetings import MeetingDetails
from outreach.models import (
    Base,
    Direction,
    Meeting,
    MeetingStatus,
    Message,
    MessageKind,
    MessageStatus,
    Outreach,
    Role,
    User,
)
from outreach.rules.states import Trigger
from outreach.sending import record_sent
from outreach.signup import create_invite
from outreach.template_library import save_template
from outreach.transitions import transition
from tests.factories import make_approved_requests, make_contact, make_mailbox, make_user
from tests.web.conftest import PASSWORD, Browser, build_app, start_target
from web.app import create_app
from web.import_jobs import ImportJobs

# The dashboard reads the real clock.
NOW = clock.now().replace(microsecond=0)


@dataclass
class Person:
    """One user's records, by id, and the words that are theirs alone."""

    user: User
    browser: Browser
    # The adviser who runs the cohort the person joined, signed in on a browser of their own.
    adviser: Browser
    # An admin of the deployment, who invited the person and may make them an adviser.
    admin: Browser
    mailbox_id: int
    contact_id: int  # answered, on `target_id`, with `meeting_id`
    target_id: int
    reply_id: int  # the contact's answer (a received message)
    sent_id: int
    draft_id: int  # a request draft, on another target
    unknown_id: int  # an approved message whose delivery is unknown
    meeting_id: int
    outreach_id: int  # the answered one, which the reply composer answers
    cohort_id: int  # a cohort the person joined, run by an adviser of their own
    report_id: int  # the person's report to that cohort, on a held meeting
    invite_id: int  # an invitation the admin made for someone the person knows
    import_token: str
    # Text that appears on this person's pages and nowhere else.
    private_words: list[str] = field(default_factory=list)

    def ids(self) -> dict[str, Any]:
        return {
            "mailbox_id": self.mailbox_id,
            "contact_id": self.contact_id,
            "target_id": self.target_id,
            "reply_id": self.reply_id,
            "sent_id": self.sent_id,
            "draft_id": self.draft_id,
            "unknown_id": self.unknown_id,
            "meeting_id": self.meeting_id,
            "outreach_id": self.outreach_id,
            "cohort_id": self.cohort_id,
            "report_id": self.report_id,
            "invite_id": self.invite_id,
            "user_id": self.user.id,
            "import_token": self.import_token,
        }


# --- the url map, read once when the tests are collected ---------------------------------------


@dataclass(frozen=True)
class Route:
    """One method of one rule, as the tests are parametrized by it."""

    rule: str
    endpoint: str
    method: str
    arguments: frozenset[str]

    @property
    def name(self) -> str:
        return f"{self.method} {self.rule}"


def dashboard_routes() -> list[Route]:
    """Every (rule, method) of the dashboard, GET and POST (HEAD and OPTIONS are Flask's)."""
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings.from_env(
            {
                "OUTREACH_INSTANCE_DIR": folder,
                "OUTREACH_DATABASE_URL": f"sqlite:///{folder}/routes.sqlite",
                "OUTREACH_SECRET_KEY": "routes",
                "OUTREACH_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            }
        )
        app = create_app(settings)
        try:
            found = [
                Route(rule.rule, rule.endpoint, method, frozenset(rule.arguments))
                for rule in app.url_map.iter_rules()
                for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
            ]
        finally:
            app.extensions["outreach"].close()
    return sorted(found, key=lambda route: (route.rule, route.method))


# Which of a person's records fills each id argument of a route: by endpoint first
# (where a name means something particular there), then by the argument's name.
ROUTE_IDS_BY_ENDPOINT: dict[tuple[str, str], str] = {
    ("contacts.correct_message", "message_id"): "reply_id",
    ("outbox.mark_delivered", "message_id"): "unknown_id",
    ("outbox.send_again", "message_id"): "unknown_id",
}
ROUTE_IDS: dict[str, str] = {
    "contact_id": "contact_id",
    "target_id": "target_id",
    "message_id": "draft_id",
    "mailbox_id": "mailbox_id",
    "meeting_id": "meeting_id",
    "outreach_id": "outreach_id",
    "cohort_id": "cohort_id",
    "report_id": "report_id",
    "invite_id": "invite_id",
    "user_id": "user_id",
    "token": "import_token",
}
# Arguments that name something everyone shares, not a record: nothing to own.
NOT_IDS: dict[str, str] = {
    "provider": "an OAuth provider's name (google, microsoft), the same for everyone",
    "kind_name": "a kind of message; each user's template of that kind is their own",
    "filename": "a file of web/static, the same for everyone",
}
# What the shared arguments are filled with.
SHARED_VALUES: dict[str, str] = {
    "provider": "google",
    "kind_name": "request",
    "filename": "style.css",
}


# Routes only a cohort's adviser may use: their owner is the person's adviser, and the
# stranger trying them is another adviser.
ADVISER_ENDPOINTS = frozenset(
    {
        "cohorts.report",
        "cohorts.export",
        "cohorts.questions",
        "cohort_reports.show",
        "cohort_reports.comment",
        "cohort_reports.print_all",
    }
)
# Routes only an admin may use (every admin alike): the stranger trying them is a student.
ADMIN_ENDPOINTS = frozenset({"admin.revoke", "admin.change_role"})


def browser_for(person: Person, route: Route) -> Browser:
    """The browser of whoever would use `route` for `person`'s records."""
    if route.endpoint in ADMIN_ENDPOINTS:
        return person.admin
    return person.adviser if route.endpoint in ADVISER_ENDPOINTS else person.browser


class UnfilledRoute(Exception):
    """A route has an argument the fixtures cannot fill."""


def route_values(route: Route, person: Person) -> dict[str, Any]:
    """The URL arguments of `route` filled with `person`'s records.

    :raise UnfilledRoute: for an argument neither an id known here nor a shared name.
    """
    ids = person.ids()
    values: dict[str, Any] = {}
    for name in sorted(route.arguments):
        record = ROUTE_IDS_BY_ENDPOINT.get((route.endpoint, name)) or ROUTE_IDS.get(name)
        if record is not None:
            values[name] = ids[record]
        elif name in NOT_IDS:
            values[name] = SHARED_VALUES[name]
        else:
            raise UnfilledRoute(
                f"route {route.name} ({route.endpoint}) takes <{name}>, which "
                "tests/security/conftest.py cannot fill: give every person such a record "
                "and add the argument to ROUTE_IDS (or to NOT_IDS, with the reason, if it "
                "names nothing a user owns)"
            )
    return values


def has_id(route: Route) -> bool:
    """Whether the route's URL names something a user may own (anything but NOT_IDS)."""
    return any(name not in NOT_IDS for name in route.arguments)


def url_of(app: Flask, route: Route, person: Person) -> str:
    """The route's path with `person`'s records in it."""
    adapter = app.url_map.bind("localhost")
    return adapter.build(route.endpoint, route_values(route, person), method=route.method)


# --- comparing everything before and after ----------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    rows: dict[str, list[tuple[Any, ...]]]
    files: dict[str, bytes]


def snapshot(engine: Engine, instance_dir: Path) -> Snapshot:
    """Every row of every table, and every file under the instance folder's imports."""
    rows: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            found = connection.execute(select(table)).all()
            rows[table.name] = sorted((tuple(row) for row in found), key=repr)
    imports = instance_dir / "imports"
    files = (
        {path.name: path.read_bytes() for path in sorted(imports.iterdir()) if path.is_file()}
        if imports.exists()
        else {}
    )
    return Snapshot(rows, files)


def assert_same(before: Snapshot, after: Snapshot, what: str) -> None:
    for table, rows in before.rows.items():
        assert after.rows[table] == rows, f"{what} changed the table {table}"
    assert after.files == before.files, f"{what} changed the imports in progress"


# A form that would pass most of the dashboard's forms, so that only the thing a test
# gets wrong on purpose (the owner, the token) decides the answer.
PLAUSIBLE_FORM: dict[str, str] = {
    "name": "Eve Example",
    "email": "eve@example.org",
    "subject": "Hijacked subject",
    "body": "Hijacked body {{ first_name }}",
    "verdict": "decline",
    "position": "1",
    "max_in_flight": "3",
    "wait_business_days": "2",
    "password": "a new password",
    "starts_at": "2030-01-01T10:00",
    "duration_minutes": "45",
    "place": "Hijacked place",
    "learned": "Hijacked notes",
    "specific_detail": "Hijacked detail",
    "daily_cap": "500",
    "save": "Save",
}


_TAG = re.compile(r"[^a-z]")


def make_person(
    session: Session,
    secret_box: SecretBox,
    browsers: tuple[Browser, Browser, Browser],
    instance_dir: Path,
    first: str,
) -> Person:
    """A user called `first` with one of everything, signed in on the first browser, the
    adviser of their cohort on the second and an admin on the third."""
    browser, adviser_browser, admin_browser = browsers
    tag = _TAG.sub("", first.lower())
    user = make_user(
        session, name=f"{first} Owner", email=f"{tag}@{tag}.example", password=PASSWORD
    )
    mailbox = make_mailbox(session, user, secret_box, password=f"{tag}-mailbox-password")

    # An answered request, with a meeting agreed in the answer.
    sent_at = NOW - timedelta(days=7)
    (request,) = make_approved_requests(
        session,
        user,
        sent_at,
        name=f"{first}contact Answered",
        email=f"answered@{tag}-org.example",
        organisation=f"{first}org Institute",
    )
    record_sent(session, request.id, sent_at)
    reply = Message(
        user_id=user.id,
        mailbox_id=request.mailbox_id,
        contact_id=request.contact_id,
        outreach_id=request.outreach_id,
        direction=Direction.INBOUND,
        kind=MessageKind.REPLY,
        status=MessageStatus.RECEIVED,
        message_id=f"<answer-{request.id}@{tag}-org.example>",
        from_address=f"answered@{tag}-org.example",
        to_address=request.from_address,
        subject=f"Re: {request.subject}",
        body_text=f"{first}reply Happy to talk next week.",
        received_at=sent_at + timedelta(hours=2),
        match_rule="sender",
    )
    session.add(reply)
    session.flush()
    outreach = session.get_one(Outreach, request.outreach_id)
    transition(session, outreach, Trigger.REPLY_RECEIVED, sent_at, "reply received", reply.id)
    meeting = meetings.record_meeting(
        session,
        user,
        outreach.id,
        MeetingDetails(NOW + timedelta(days=3), place=f"{first}place Cafe"),
        NOW,
    )

    # A draft waiting for approval, on a target of its own.
    drafted_contact = make_contact(session, user, name=f"{first}drafted Person")
    _, [draft] = start_target(session, user, [drafted_contact], name=f"{first}field Policy")

    # An approved request a worker claimed and then lost track of.
    (unknown,) = make_approved_requests(session, user, NOW, name=f"{first}unknown Person")
    unknown.status = MessageStatus.UNKNOWN
    unknown.claimed_at = NOW - timedelta(minutes=5)

    # A conversation already held, reported to a cohort that an adviser runs.
    (held_request,) = make_approved_requests(
        session, user, sent_at, name=f"{first}met Person", email=f"met@{tag}-org.example"
    )
    record_sent(session, held_request.id, sent_at)
    held_outreach = session.get_one(Outreach, held_request.outreach_id)
    for trigger in (Trigger.REPLY_RECEIVED, Trigger.MEETING_SET, Trigger.MEETING_HELD):
        transition(session, held_outreach, trigger, sent_at + timedelta(days=1), "held")
    held = Meeting(
        user_id=user.id,
        outreach_id=held_outreach.id,
        contact_id=held_outreach.contact_id,
        starts_at=NOW - timedelta(days=2),
        status=MeetingStatus.HELD,
        held_at=NOW - timedelta(days=2),
        learned=f"{first}learned the field from the inside.",
    )
    session.add(held)
    adviser = make_user(
        session, name=f"{first} Adviser", email=f"adviser@{tag}.example", password=PASSWORD
    )
    adviser.role = Role.ADVISER
    session.flush()
    cohort = create_cohort(session, adviser, f"{first}cohort Seminar")
    join_cohort(session, user, cohort.code, NOW)
    report = submit_report(session, user, held.id, cohort.id, NOW)
    admin = make_user(
        session, name=f"{first} Admin", email=f"admin@{tag}.example", password=PASSWORD
    )
    admin.role = Role.ADMIN
    invite = create_invite(session, f"invitee@{tag}.example", NOW)

    save_template(
        session,
        user,
        MessageKind.REQUEST,
        f"{first}subject about {{{{ target }}}}",
        f"Dear {{{{ first_name }}}}, {first}template words.\n\n{{{{ my_name }}}}",
    )
    session.commit()

    job = ImportJobs(instance_dir / "imports").create(
        user.id, "csv", f"{tag}.csv", f"email,name\nimported@{tag}.example,{first}imported Row\n"
    )

    for who, signed_in in ((user, browser), (adviser, adviser_browser), (admin, admin_browser)):
        response = signed_in.login(who.email)
        assert response.status_code == 302, response.get_data(as_text=True)
    return Person(
        user=user,
        browser=browser,
        adviser=adviser_browser,
        admin=admin_browser,
        mailbox_id=mailbox.id,
        contact_id=outreach.contact_id,
        target_id=outreach.target_id,
        reply_id=reply.id,
        sent_id=request.id,
        draft_id=draft.id,
        unknown_id=unknown.id,
        meeting_id=meeting.id,
        outreach_id=outreach.id,
        cohort_id=cohort.id,
        report_id=report.id,
        invite_id=invite.invite.id,
        import_token=job.token,
        private_words=[
            f"{first} Owner",
            f"{tag}@{tag}.example",
            f"{first}contact",
            f"{first}org",
            f"{first}reply",
            f"{first}place",
            f"{first}drafted",
            f"{first}field",
            f"{first}unknown",
            f"{first}subject",
            f"{first}template",
            f"{first}imported",
            f"{first}met",
            f"{first}learned",
            f"{first}cohort",
            f"{tag}-mailbox-password",
        ],
    )


@pytest.fixture
def app(settings: Settings, engine: Engine) -> Iterator[Flask]:
    """The dashboard on the test's database (`engine` made the schema), without Redis."""
    yield from build_app(settings)


@pytest.fixture
def alice(app: Flask, session: Session, secret_box: SecretBox, settings: Settings) -> Person:
    return make_person(
        session,
        secret_box,
        (Browser(app.test_client()), Browser(app.test_client()), Browser(app.test_client())),
        settings.instance_dir,
        "Alice",
    )


@pytest.fixture
def bob(
    app: Flask, session: Session, secret_box: SecretBox, settings: Settings, alice: Person
) -> Person:
    return make_person(
        session,
        secret_box,
        (Browser(app.test_client()), Browser(app.test_client()), Browser(app.test_client())),
        settings.instance_dir,
        "Bob",
    )


@pytest.fixture
def anonymous(app: Flask) -> Browser:
    return Browser(app.test_client())
