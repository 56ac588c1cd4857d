"""The one follow-up and the people never asked again, through real processes as days pass.

A real `outreach worker` (its sweeper runs the scheduler) and `outreach poller` run
against the test SMTP server and Dovecot on the shared clock (OUTREACH_CLOCK_OFFSET_FILE,
see tests/e2e/test_cycle_scenarios.py); the new list is made with the real CLI.

- Ann's request, edited before it went out, gets no answer: her one follow-up goes out
  in the thread, quoting the request as it was sent, under "On <its day>, Sam Student wrote:".
- Bea declines by a real reply, read by the poller.
- A new list with Bea, Ann (written to twice, no answer) and Cat: the CLI names Bea and Ann
  on stderr and drafts for Cat only; the scheduler, days later, drafts nothing for them either.
"""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import timedelta
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach import drafts, targets
from outreach.models import Contact, Message, MessageKind, MessageStatus, TlsMode
from outreach.rules.states import OutreachState
from tests.e2e import test_cycle_scenarios as scenarios
from tests.e2e.test_cycle_scenarios import Cycle, answer, sent_to, smtp_count, state
from tests.factories import make_contact, make_mailbox, make_user
from tests.servers.dovecot import DovecotServer
from tests.servers.fixtures import MailAccount
from tests.servers.smtpd import RecordingSMTPServer

# The real processes on the shared clock, as the cycle scenarios run them.
cycle_database = scenarios.cycle_database
cycle_processes = scenarios.cycle_processes

DAY = timedelta(days=1)
LONDON = ZoneInfo("Europe/London")
EDITED = (
    "Dear Ann,\n\nI heard you speak about museum education at the careers fair, and "
    "I would value 20 minutes of your advice.\n\nWith thanks,\nSam Student"
)


def received_by(smtp: RecordingSMTPServer, email: str, *, in_thread: bool) -> list[EmailMessage]:
    """What the SMTP server took for `email`: the first messages, or the replies in a thread."""
    return [
        received.message
        for received in smtp.messages
        if received.rcpt_tos == [email] and ("In-Reply-To" in received.message) is in_thread
    ]


def test_the_quoted_follow_up_as_sent_and_no_second_ask_after_a_decline(
    cycle_processes: Cycle,
    smtp: RecordingSMTPServer,
    dovecot: DovecotServer,
    mail_account: MailAccount,
) -> None:
    run = cycle_processes
    smtp.users[mail_account.user] = mail_account.password
    with Session(run.engine) as session:
        user = make_user(session, email=mail_account.user, name="Sam Student")
        user.time_zone = "Europe/London"
        user.auto_approve = "follow_up"
        mailbox = make_mailbox(
            session,
            user,
            run.box,
            password=mail_account.password,
            imap_port=dovecot.imap_port,
            imap_tls=TlsMode.STARTTLS,
            smtp_port=smtp.port,
            smtp_tls=TlsMode.STARTTLS,
            username=mail_account.user,
            display_name="Sam Student",
        )
        mailbox.min_gap_seconds = mailbox.max_gap_seconds = 0
        people = {
            email: make_contact(session, user, email=email, name=name, organisation=org)
            for email, name, org in (
                ("ann@quiet.example", "Ann Quiet", "Quiet Museum"),
                ("bea@busy.example", "Bea Busy", "Busy Gallery"),
                ("cat@next.example", "Cat Next", "Next Archive"),
            )
        }
        for name, email in (("Quiet list", "ann@quiet.example"), ("Busy list", "bea@busy.example")):
            target = targets.create_target(session, user, name, [people[email].id])
            (request,) = targets.fill_pipeline(session, user, target, run.now())
            if email == "ann@quiet.example":
                drafts.edit_draft(session, user, request.id, request.subject, EDITED, run.now())
            drafts.approve(session, user, request.id, run.now())
        session.commit()

    run.processes.start("worker", "worker")
    run.processes.start("poller", "poller")
    run.wait(
        lambda s: all(
            sent_to(s, email, MessageKind.REQUEST)
            for email in ("ann@quiet.example", "bea@busy.example")
        ),
        "the worker to send both requests",
    )
    with Session(run.engine) as session:
        (to_bea,) = sent_to(session, "bea@busy.example", MessageKind.REQUEST)
        session.expunge(to_bea)
    dovecot.deliver(
        answer(to_bea, "bea@busy.example", "Sorry, now is not a good time for me."),
        mail_account.user,
    )
    run.wait(
        lambda s: state(s, "bea@busy.example") is OutreachState.DECLINED,
        "the poller to read Bea's decline",
    )

    # Eight days on: Ann's one follow-up, quoting the request as it went out.
    run.travel(8 * DAY)
    run.wait(
        lambda s: bool(sent_to(s, "ann@quiet.example", MessageKind.FOLLOW_UP)),
        "the scheduler to draft, and the worker to send, Ann's follow-up",
    )
    (request_sent,) = received_by(smtp, "ann@quiet.example", in_thread=False)
    (follow_up_sent,) = received_by(smtp, "ann@quiet.example", in_thread=True)
    assert follow_up_sent["In-Reply-To"] == request_sent["Message-ID"]
    assert request_sent["Message-ID"] in str(follow_up_sent["References"])
    request_text = str(request_sent.get_content()).replace("\r\n", "\n").strip()
    assert request_text == EDITED  # the edited text is what went out ...
    sent_on = parsedate_to_datetime(str(request_sent["Date"])).astimezone(LONDON)
    attribution = f"On {sent_on:%a} {sent_on.day} {sent_on:%b %Y}, Sam Student wrote:"
    quoted = "\n".join(f"> {line}" if line else ">" for line in request_text.split("\n"))
    body = str(follow_up_sent.get_content()).replace("\r\n", "\n")
    own, found, below = body.partition(f"\n\n{attribution}\n")
    # ... and what the follow-up quotes, below the user's own words, as mail clients do.
    assert found and below.strip("\n") == quoted
    assert own.startswith("Dear Ann") and ">" not in own

    # Eight more days: no answer from Ann after two messages.
    run.travel(8 * DAY)
    run.wait(
        lambda s: state(s, "ann@quiet.example") is OutreachState.NO_REPLY,
        "no reply from Ann after the follow-up",
    )

    # A new list with the real CLI: Bea declined, Ann was written to twice; Cat is new.
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "outreach.cli",
            "target",
            "create",
            "Museum education",
            "--field",
            "museum education",
            "--user",
            mail_account.user,
            "--contacts",
            "bea@busy.example,ann@quiet.example,cat@next.example",
            "--max-in-flight",
            "3",
        ],
        env=run.processes.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "Bea Busy declined on " in made.stderr
    assert "Ann Quiet was written to twice without an answer" in made.stderr
    assert made.stderr.count("not asked again: nothing is drafted for them") == 2
    assert "drafted a request to cat@next.example" in made.stdout
    assert "bea@busy.example" not in made.stdout and "ann@quiet.example" not in made.stdout

    # Days later the scheduler has swept many times: still nothing for Bea or Ann.
    run.travel(2 * DAY)
    time.sleep(3)
    with Session(run.engine) as session:
        new = session.scalars(
            select(Message)
            .join(Contact, Contact.id == Message.contact_id)
            .where(Message.kind == MessageKind.REQUEST, Message.status != MessageStatus.SENT)
        ).all()
        assert [message.to_address for message in new] == ["cat@next.example"]
    assert smtp_count(smtp, "bea@busy.example") == 1
    assert smtp_count(smtp, "ann@quiet.example") == 2
