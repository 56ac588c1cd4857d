"""Reply watching against a real Dovecot: matched, classified, never counted twice."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from outreach import corrections, drafts, leases, targets, watching
from outreach.crypto import SecretBox
from outreach.errors import ValidationError
from outreach.mail.imap import ImapSource
from outreach.mail.smtp import SmtpSender
from outreach.mailbox_login import imap_login
from outreach.models import Contact, Event, Message, MessageKind, MessageStatus, Outreach, TlsMode
from outreach.polling import poll_mailbox
from outreach.reading.classify import InboundKind, Reading, read_headers
from outreach.reading.mime import parse_headers
from outreach.rules.states import OutreachState
from outreach.sending import Outcome, deliver
from outreach.watching import sync_mailbox
from tests.conftest import World
from tests.factories import make_contact
from tests.servers.dovecot import DovecotServer
from tests.servers.proxy import HoldingProxy


def sent_request(
    session: Session, world: World, now: datetime, email: str, secret_box: SecretBox
) -> Message:
    """A request, sent through the real SMTP server."""
    person = make_contact(session, world.user, email=email, name="Alex Lee")
    target = targets.create_target(session, world.user, f"Target for {email}", [person.id])
    (draft,) = targets.fill_pipeline(session, world.user, target, now)
    drafts.approve(session, world.user, draft.id, now)
    # Several requests go out at the same instant in these tests: no spacing.
    world.mailbox.min_gap_seconds = world.mailbox.max_gap_seconds = 0
    session.commit()
    factory = sessionmaker(session.get_bind(), expire_on_commit=False)
    result = deliver(factory, draft.id, SmtpSender(world.context), secret_box, lambda: now)
    assert result.outcome is Outcome.SENT
    session.refresh(draft)
    return draft


def reply_to(message: Message, *, sender: str, body: str = "Happy to talk!", **extra: str) -> bytes:
    headers = {
        "From": f"Alex Lee <{sender}>",
        "To": message.from_address,
        "Subject": f"Re: {message.subject}",
        "Message-ID": f"<reply-{message.id}-{len(extra)}@org.example>",
        "In-Reply-To": message.message_id or "",
        "References": message.message_id or "",
        "Date": "Tue, 24 Nov 2026 10:00:00 +0000",
        **extra,
    }
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items() if value)
    return (head + "\r\n" + body + "\r\n").encode()


def poll(
    session_factory: sessionmaker[Session], world: World, secret_box: SecretBox, now: datetime
) -> None:
    result = poll_mailbox(session_factory, world.mailbox.id, secret_box, world.context, lambda: now)
    assert result.ok, result.problem


def state_of(session: Session, message: Message) -> OutreachState:
    session.expire_all()
    outreach = session.get(Outreach, message.outreach_id)
    assert outreach is not None
    return outreach.state


def test_reply_flips_the_status_and_leaves_the_mailbox_untouched(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    dovecot: DovecotServer,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    request = sent_request(session, world, now, "alex@org.example", secret_box)
    account = world.account
    dovecot.deliver(b"From: shop@shop.example\r\nSubject: Sale\r\n\r\nBuy\r\n", account.user)
    dovecot.deliver(reply_to(request, sender="someone-else@org.example"), account.user)
    before = dovecot.snapshot(account.user, account.password)

    poll(session_factory, world, secret_box, now)

    assert dovecot.snapshot(account.user, account.password) == before
    assert all(b"\\Seen" not in flags for _uid, _raw, flags in before)
    assert state_of(session, request) is OutreachState.REPLIED
    inbound = session.scalars(select(Message).where(Message.status == MessageStatus.RECEIVED)).all()
    # Only the reply is stored; the shop's mail is none of our business.
    assert [(m.kind, m.match_rule, m.body_text) for m in inbound] == [
        (MessageKind.REPLY, "thread", "Happy to talk!")
    ]


def test_polling_again_and_after_a_restart_counts_nothing_twice(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    dovecot: DovecotServer,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    request = sent_request(session, world, now, "bo@org.example", secret_box)
    dovecot.deliver(reply_to(request, sender="bo@org.example"), world.account.user)

    for _ in range(3):
        poll(session_factory, world, secret_box, now)

    count = session.scalar(
        select(func.count()).select_from(Message).where(Message.status == MessageStatus.RECEIVED)
    )
    assert count == 1


def test_reply_without_threading_headers_matches_by_sender(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    dovecot: DovecotServer,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    request = sent_request(session, world, now, "cy@org.example", secret_box)
    raw = reply_to(request, sender="CY@org.example", **{"In-Reply-To": "", "References": ""})
    dovecot.deliver(raw, world.account.user)

    poll(session_factory, world, secret_box, now)

    assert state_of(session, request) is OutreachState.REPLIED
    stored = session.scalar(select(Message).where(Message.status == MessageStatus.RECEIVED))
    assert stored is not None and stored.match_rule == "sender"


def test_out_of_office_is_recorded_but_is_not_a_reply(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    dovecot: DovecotServer,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    request = sent_request(session, world, now, "dee@org.example", secret_box)
    raw = reply_to(request, sender="dee@org.example", **{"Auto-Submitted": "auto-replied"})
    dovecot.deliver(raw, world.account.user)

    poll(session_factory, world, secret_box, now)

    assert state_of(session, request) is OutreachState.WAITING
    stored = session.scalar(select(Message).where(Message.status == MessageStatus.RECEIVED))
    assert stored is not None and stored.kind is MessageKind.AUTO_REPLY


def test_a_bounce_quoting_our_message_marks_the_contact_bounced(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    dovecot: DovecotServer,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    request = sent_request(session, world, now, "gone@org.example", secret_box)
    bounce = (
        "From: Mail Delivery System <MAILER-DAEMON@mx.org.example>\r\n"
        f"To: {world.account.user}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <bounce-1@mx.org.example>\r\n"
        "Auto-Submitted: auto-replied\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nThe address gone@org.example does not exist.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.org.example\r\n\r\nFinal-Recipient: rfc822; gone@org.example\r\n"
        "Action: failed\r\nStatus: 5.1.1\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {request.message_id}\r\nSubject: {request.subject}\r\n--B--\r\n"
    ).encode()
    dovecot.deliver(bounce, world.account.user, sender="")

    poll(session_factory, world, secret_box, now)

    assert state_of(session, request) is OutreachState.BOUNCED
    stored = session.scalar(select(Message).where(Message.status == MessageStatus.RECEIVED))
    assert stored is not None and (stored.kind, stored.match_rule) == (
        MessageKind.BOUNCE,
        "bounce_body",
    )


def test_uidvalidity_change_rescans_without_double_counting(
    session: Session,
    world: World,
    dovecot: DovecotServer,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    request = sent_request(session, world, now, "eve@org.example", secret_box)
    account = world.account
    client = dovecot.connect(account.user, account.password)
    client.create_folder("Replies")
    client.logout()
    raw = reply_to(request, sender="eve@org.example")
    dovecot.append(account.user, account.password, "Replies", raw)
    login = imap_login(world.mailbox, secret_box)

    with ImapSource(login, world.context) as source:
        first = sync_mailbox(session, world.mailbox, source, now, folders=["Replies"])
    session.commit()
    # Re-creating the folder gives it a new UIDVALIDITY: every UID means something new.
    client = dovecot.connect(account.user, account.password)
    client.delete_folder("Replies")
    client.create_folder("Replies")
    client.logout()
    dovecot.append(account.user, account.password, "Replies", raw)
    with ImapSource(login, world.context) as source:
        second = sync_mailbox(session, world.mailbox, source, now, folders=["Replies"])
    session.commit()

    assert (first.matched, second.matched, second.resynced) == (1, 0, ["Replies"])
    count = session.scalar(
        select(func.count()).select_from(Message).where(Message.status == MessageStatus.RECEIVED)
    )
    assert count == 1


def test_users_own_message_in_sent_stops_follow_ups_but_is_not_a_reply(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    dovecot: DovecotServer,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    request = sent_request(session, world, now, "gil@org.example", secret_box)
    account = world.account
    own = (
        f"From: Sam <{account.user}>\r\nTo: Gil <gil@org.example>\r\n"
        "Subject: Coffee instead?\r\nMessage-ID: <from-my-phone-1@example.test>\r\n"
        "Date: Tue, 24 Nov 2026 11:00:00 +0000\r\n\r\nWritten on my phone.\r\n"
    ).encode()
    dovecot.append(account.user, account.password, "Sent", own, [b"\\Seen"])
    before = dovecot.snapshot(account.user, account.password, "Sent")

    poll(session_factory, world, secret_box, now)

    assert dovecot.snapshot(account.user, account.password, "Sent") == before
    assert state_of(session, request) is OutreachState.WAITING
    outreach = session.get(Outreach, request.outreach_id)
    assert outreach is not None and outreach.handled_by_user
    with pytest.raises(ValidationError, match="yourself"):
        drafts.draft_follow_up(session, world.user, outreach, now)

    # Gil answers the message written on the phone: that is a reply, by thread.
    answer = (
        f"From: Gil <gil@org.example>\r\nTo: {account.user}\r\nSubject: Re: Coffee instead?\r\n"
        "Message-ID: <gil-1@org.example>\r\nIn-Reply-To: <from-my-phone-1@example.test>\r\n"
        "\r\nSure!\r\n"
    ).encode()
    dovecot.deliver(answer, account.user)
    poll(session_factory, world, secret_box, now)
    assert state_of(session, request) is OutreachState.REPLIED
    stored = session.scalar(select(Message).where(Message.message_id == "<gil-1@org.example>"))
    assert stored is not None and stored.match_rule == "thread"


def test_a_link_cut_mid_fetch_loses_nothing_and_counts_once(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    dovecot: DovecotServer,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    request = sent_request(session, world, now, "hal@org.example", secret_box)
    proxy = HoldingProxy(dovecot.imap_port)
    try:
        # Plain IMAP on loopback, so the proxy can see which command goes by.
        world.mailbox.imap_port, world.mailbox.imap_tls = proxy.port, TlsMode.NONE
        session.commit()
        dovecot.deliver(reply_to(request, sender="hal@org.example"), world.account.user)
        proxy.cut_on = b"FETCH"

        cut = poll_mailbox(
            session_factory, world.mailbox.id, secret_box, world.context, lambda: now
        )

        assert not cut.ok and proxy.cuts == 1
        assert state_of(session, request) is OutreachState.WAITING
        proxy.cut_on = None
        poll(session_factory, world, secret_box, now)
        poll(session_factory, world, secret_box, now)
    finally:
        proxy.stop()
    assert state_of(session, request) is OutreachState.REPLIED
    count = session.scalar(
        select(func.count()).select_from(Message).where(Message.status == MessageStatus.RECEIVED)
    )
    assert count == 1


def test_only_one_poller_holds_a_mailbox_until_its_lease_runs_out(
    session: Session, world: World, now: datetime
) -> None:
    lease = timedelta(seconds=45)
    assert leases.acquire(session, world.mailbox.id, "poller-a", now, lease)
    assert not leases.acquire(session, world.mailbox.id, "poller-b", now, lease)
    assert leases.acquire(session, world.mailbox.id, "poller-a", now + timedelta(seconds=30), lease)
    later = now + timedelta(seconds=30) + lease + timedelta(seconds=1)
    assert leases.acquire(session, world.mailbox.id, "poller-b", later, lease)
    leases.release_all(session, "poller-b")
    assert leases.acquire(session, world.mailbox.id, "poller-c", later, lease)


def test_a_message_that_breaks_reading_is_recorded_and_the_rest_still_counted(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    dovecot: DovecotServer,
    secret_box: SecretBox,
    now: datetime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    request = sent_request(session, world, now, "ivy@org.example", secret_box)
    real_read_headers = read_headers

    def fragile(headers: dict[str, str], own: frozenset[str]) -> Reading:
        # Fault injection: stands for any input our code cannot cope with.
        if headers.get("subject") == "poison":
            raise ValueError("cannot cope")
        return real_read_headers(headers, own)

    monkeypatch.setattr(watching, "read_headers", fragile)
    account = world.account
    dovecot.deliver(b"From: x@y.example\r\nSubject: poison\r\n\r\nboom\r\n", account.user)
    dovecot.deliver(reply_to(request, sender="ivy@org.example"), account.user)

    poll(session_factory, world, secret_box, now)

    assert state_of(session, request) is OutreachState.REPLIED
    details = session.scalars(select(Event.detail).where(Event.kind == "inbound:unreadable")).all()
    assert len(details) == 1 and "cannot cope" in details[0]


def test_a_reply_citing_the_id_outlook_gave_our_message_is_matched(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    dovecot: DovecotServer,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    request = sent_request(session, world, now, "jo@org.example", secret_box)
    account = world.account
    # Outlook.com files our message under an id of its own, keeping ours aside.
    filed = (
        f"From: Sam <{account.user}>\r\nTo: Jo <jo@org.example>\r\nSubject: {request.subject}\r\n"
        "Message-ID: <AM0PR01MB1234@eurprd01.prod.outlook.example>\r\n"
        f"X-Microsoft-Original-Message-ID: {request.message_id}\r\n\r\nDear Jo,\r\n"
    ).encode()
    dovecot.append(account.user, account.password, "Sent", filed, [b"\\Seen"])
    poll(session_factory, world, secret_box, now)
    outreach = session.get(Outreach, request.outreach_id)
    assert outreach is not None and not outreach.handled_by_user  # not "written by hand"

    answer = (
        f"From: Jo <someone.else@elsewhere.example>\r\nTo: {account.user}\r\nSubject: Re: hi\r\n"
        "Message-ID: <jo-1@org.example>\r\n"
        "In-Reply-To: <AM0PR01MB1234@eurprd01.prod.outlook.example>\r\n\r\nGladly.\r\n"
    ).encode()
    dovecot.deliver(answer, account.user)
    poll(session_factory, world, secret_box, now)

    assert state_of(session, request) is OutreachState.REPLIED


def test_a_decline_ends_the_outreach_and_a_stop_request_marks_do_not_contact(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    dovecot: DovecotServer,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    polite = sent_request(session, world, now, "kai@org.example", secret_box)
    firm = sent_request(session, world, now, "lea@org.example", secret_box)
    account = world.account
    dovecot.deliver(
        reply_to(polite, sender="kai@org.example", body="Sorry, now is not a good time for me."),
        account.user,
    )
    dovecot.deliver(
        reply_to(firm, sender="lea@org.example", body="Please do not contact me again."),
        account.user,
    )

    poll(session_factory, world, secret_box, now)

    assert state_of(session, polite) is OutreachState.DECLINED
    assert state_of(session, firm) is OutreachState.DECLINED
    lea = session.get(Contact, firm.contact_id)
    kai = session.get(Contact, polite.contact_id)
    assert lea is not None and lea.do_not_contact
    assert kai is not None and not kai.do_not_contact


def test_a_soft_bounce_does_not_end_the_outreach_and_an_away_note_gives_its_date(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    dovecot: DovecotServer,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    full = sent_request(session, world, now, "max@org.example", secret_box)
    away = sent_request(session, world, now, "nia@org.example", secret_box)
    account = world.account
    report = (
        "From: MAILER-DAEMON@mx.org.example\r\n"
        f"To: {account.user}\r\nSubject: Delivery Status Notification (Delay)\r\n"
        "Message-ID: <dsn-full@mx.org.example>\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nThe mailbox is full.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
        "Final-Recipient: rfc822; max@org.example\r\nAction: delayed\r\nStatus: 4.2.2\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {full.message_id}\r\n--B--\r\n"
    ).encode()
    dovecot.deliver(report, account.user, sender="")
    dovecot.deliver(
        reply_to(
            away,
            sender="nia@org.example",
            body="I am out of the office until Monday 7 December 2026 with no access to email.",
            **{"Auto-Submitted": "auto-replied", "Subject": "Automatic reply: hello"},
        ),
        account.user,
    )

    poll(session_factory, world, secret_box, now)

    assert state_of(session, full) is OutreachState.WAITING
    assert state_of(session, away) is OutreachState.WAITING
    details = session.scalars(select(Event.detail).where(Event.contact_id == away.contact_id))
    assert any("away until Monday 07 December 2026" in d for d in details)


def test_personal_headers_over_an_out_of_office_body_pause_the_contact_not_answer(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    dovecot: DovecotServer,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    request = sent_request(session, world, now, "ola@org.example", secret_box)
    # Threaded to our request, from the contact's own address, with no Auto-Submitted or
    # Precedence field; Exchange's X-Auto-Response-Suppress alone is no sign of a machine.
    raw = reply_to(
        request,
        sender="ola@org.example",
        body="I am out of the office until Monday 7 December 2026 with no access to email.",
        **{"X-Auto-Response-Suppress": "All"},
    )
    headers_say = read_headers(parse_headers(raw), frozenset({world.mailbox.email_address}))
    assert headers_say.kind is InboundKind.REPLY
    dovecot.deliver(raw, world.account.user)

    poll(session_factory, world, secret_box, now)

    assert state_of(session, request) is OutreachState.WAITING
    outreach = session.get(Outreach, request.outreach_id)
    assert outreach is not None and outreach.away_until == date(2026, 12, 7)
    assert outreach.next_step_at is not None and outreach.next_step_at.date() > date(2026, 12, 7)
    stored = session.scalar(select(Message).where(Message.status == MessageStatus.RECEIVED))
    assert stored is not None and stored.kind is MessageKind.AUTO_REPLY


def test_a_read_receipt_in_the_thread_is_noted_and_holds_nothing(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    dovecot: DovecotServer,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    request = sent_request(session, world, now, "pia@org.example", secret_box)
    outreach = session.get(Outreach, request.outreach_id)
    assert outreach is not None
    due = outreach.next_step_at
    receipt = reply_to(
        request,
        sender="pia@org.example",
        body="--M\r\nContent-Type: message/disposition-notification\r\n\r\n"
        "Disposition: manual-action/MDN-sent-manually; displayed\r\n--M--",
        **{"Content-Type": 'multipart/report; report-type=disposition-notification; boundary="M"'},
    )
    dovecot.deliver(receipt, world.account.user)

    poll(session_factory, world, secret_box, now)

    # Its headers alone read as an auto-reply; the whole message is no answer at all.
    assert state_of(session, request) is OutreachState.WAITING
    outreach = session.get(Outreach, request.outreach_id)
    assert outreach is not None and outreach.next_step_at == due
    assert session.scalar(select(Message).where(Message.status == MessageStatus.RECEIVED)) is None
    notes = session.scalars(select(Event.detail).where(Event.kind == "inbound:other")).all()
    assert len(notes) == 1 and "not an answer (matched by thread)" in notes[0]


def test_an_automatic_reply_saying_they_have_left_moves_on_like_a_bounce(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    dovecot: DovecotServer,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    request = sent_request(session, world, now, "former@org.example", secret_box)
    notice = reply_to(
        request,
        sender="former@org.example",
        body="Jo Former has left the company. This mailbox is no longer monitored.",
        **{"Subject": "Automatic reply: Could I ask you about your work?"},
    )
    dovecot.deliver(notice, world.account.user)

    poll(session_factory, world, secret_box, now)

    assert state_of(session, request) is OutreachState.BOUNCED
    stored = session.scalar(select(Message).where(Message.status == MessageStatus.RECEIVED))
    assert stored is not None and stored.kind is MessageKind.AUTO_REPLY
    # "Read wrongly?" offers it as what it did: a failed delivery, which the user may undo.
    assert corrections.current_verdict(session, stored) is corrections.Verdict.BOUNCE


def test_a_report_only_its_subject_and_words_tell_is_matched_by_the_copy_it_returns(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    dovecot: DovecotServer,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    # A virus wall's report (after flufl.bounce's dumbass_01 sample): an ordinary sender,
    # no report headers, only the subject and the words say what it is.
    request = sent_request(session, world, now, "walled@org.example", secret_box)
    report = (
        "From: inetgw1@gateway.org.example\r\n"
        f"To: {world.account.user}\r\n"
        "Subject: Mail could not be delivered\r\n"
        "Message-ID: <wall-1@gateway.org.example>\r\n"
        'Content-Type: multipart/mixed; boundary="W"\r\n\r\n'
        "--W\r\nContent-Type: text/plain\r\n\r\n"
        "****** Message from InterScan E-Mail VirusWall NT ******\r\n\r\n"
        "The following mail could not be delivered.\r\n"
        "Reason:  Exceeded Maximum Delivery Attempts.  Verify that the recipient address is"
        " correct.\r\n\r\n"
        "--W\r\nContent-Type: message/rfc822\r\n\r\n"
        f"Message-ID: {request.message_id}\r\nTo: walled@org.example\r\n"
        f"Subject: {request.subject}\r\n\r\nHello\r\n--W--\r\n"
    ).encode()
    dovecot.deliver(report, world.account.user)

    poll(session_factory, world, secret_box, now)

    stored = session.scalar(select(Message).where(Message.status == MessageStatus.RECEIVED))
    assert stored is not None and (stored.kind, stored.match_rule) == (
        MessageKind.BOUNCE,
        "bounce_body",
    )
    # No status code and no "permanent" in its words: a soft failure, noted, nothing ends.
    assert state_of(session, request) is OutreachState.WAITING


@pytest.mark.parametrize("last_read", ["INBOX", "Sent"])
def test_mail_that_came_while_the_mailbox_was_read_wakes_the_wait_at_once(
    session: Session,
    world: World,
    dovecot: DovecotServer,
    secret_box: SecretBox,
    now: datetime,
    last_read: str,
) -> None:
    """A reply landing between a sync's reading of the INBOX and its IDLE is not left
    for the next renewal: Dovecot's IDLE never announces mail older than itself, and its
    STATUS on the open folder answers from the session's old view."""
    request = sent_request(session, world, now, "cy@org.example", secret_box)
    login = imap_login(world.mailbox, secret_box)
    with ImapSource(login, world.context) as source:
        folders = ["INBOX", "Sent"] if last_read == "Sent" else ["Sent", "INBOX"]
        sync_mailbox(session, world.mailbox, source, now, folders=folders)
        session.commit()
        dovecot.deliver(reply_to(request, sender="cy@org.example"), world.account.user)

        started = time.monotonic()
        woke = source.wait_for_mail(5.0)
        waited = time.monotonic() - started

        assert woke and waited < 2.0
        assert sync_mailbox(session, world.mailbox, source, now, folders=folders).matched == 1
    session.commit()
    assert state_of(session, request) is OutreachState.REPLIED
