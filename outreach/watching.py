"""Find replies in the user's mailbox and move each outreach accordingly.

One sync reads each watched folder from the last UID seen. Only messages that
belong to an outreach are stored; the rest of the user's mail is left unread
by us in every sense: never stored, never flagged, never moved.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outreach.drafts import cancel_unsent
from outreach.errors import MailboxError
from outreach.mail import FetchedHeaders, FolderBatch, MailSource
from outreach.meetings.invitations import read_invitation
from outreach.models import (
    Contact,
    Direction,
    Mailbox,
    MailboxSyncState,
    Message,
    MessageKind,
    MessageStatus,
    Outreach,
)
from outreach.reading.bounces import has_report_subject
from outreach.reading.classify import InboundKind, Reading, read_headers
from outreach.reading.matching import (
    POSSIBLE_REPLY,
    Match,
    ThreadRef,
    address_of,
    by_domain,
    match_reply,
    message_ids_in,
    normalise_message_id,
)
from outreach.reading.mime import parse_headers, text_of
from outreach.rules.cycle import CLOCKED
from outreach.rules.states import ANSWERED, OutreachState, Trigger, can_apply
from outreach.timeline import note_message, record
from outreach.transitions import pause_for_absence, transition

log = logging.getLogger(__name__)

_KIND = {
    InboundKind.REPLY: MessageKind.REPLY,
    InboundKind.AUTO_REPLY: MessageKind.AUTO_REPLY,
    InboundKind.BOUNCE: MessageKind.BOUNCE,
    InboundKind.OWN_MESSAGE: MessageKind.OWN_MESSAGE,
    # "No longer monitored", "has left the company": an automatic reply that ends the request.
    InboundKind.GONE: MessageKind.AUTO_REPLY,
}

# States in which an outreach is "in progress" for matching by sender.
_OPEN_STATES = (
    OutreachState.WAITING,
    OutreachState.FOLLOWED_UP,
    OutreachState.NO_REPLY,
    OutreachState.REPLIED,
    OutreachState.MEETING_SET,
    OutreachState.MET,
)


@dataclass
class SyncReport:
    folders: dict[str, int] = field(default_factory=dict)  # folder -> messages examined
    matched: int = 0
    unreadable: int = 0
    resynced: list[str] = field(default_factory=list)


def _sync_state(session: Session, mailbox: Mailbox, folder: str) -> MailboxSyncState:
    state = session.scalar(
        select(MailboxSyncState).where(
            MailboxSyncState.mailbox_id == mailbox.id, MailboxSyncState.folder == folder
        )
    )
    if state is None:
        # Written with the rest of the sync, once the server has answered.
        state = MailboxSyncState(mailbox_id=mailbox.id, folder=folder, last_uid=0)
        session.add(state)
    return state


def _known_ids(session: Session, user_id: int) -> tuple[dict[str, ThreadRef], set[str]]:
    """Our outbound Message-IDs (for thread matching) and every stored inbound one."""
    sent: dict[str, ThreadRef] = {}
    inbound: set[str] = set()
    rows = session.execute(
        select(
            Message.message_id,
            Message.provider_message_id,
            Message.direction,
            Message.outreach_id,
            Message.contact_id,
        ).where(Message.user_id == user_id, Message.message_id.is_not(None))
    )
    for message_id, provider_id, direction, outreach_id, contact_id in rows:
        if message_id is None:
            continue
        key = normalise_message_id(message_id)
        if direction is Direction.OUTBOUND:
            ref = ThreadRef(outreach_id=outreach_id, contact_id=contact_id)
            sent[key] = ref
            if provider_id:
                sent[normalise_message_id(provider_id)] = ref
        else:
            inbound.add(key)
    return sent, inbound


def _known_threads(session: Session, user_id: int) -> dict[int, ThreadRef]:
    """The Gmail thread ids of our outbound messages (for matching by X-GM-THRID)."""
    rows = session.execute(
        select(Message.gm_thread_id, Message.outreach_id, Message.contact_id)
        .where(
            Message.user_id == user_id,
            Message.direction == Direction.OUTBOUND,
            Message.gm_thread_id.is_not(None),
        )
        .order_by(Message.id)
    )
    # Should two outreaches ever share a thread, the newest message names it.
    return {
        thread_id: ThreadRef(outreach_id=outreach_id, contact_id=contact_id)
        for thread_id, outreach_id, contact_id in rows
        if thread_id is not None
    }


def _open_by_address(session: Session, user_id: int) -> dict[str, tuple[int, int]]:
    rows = session.execute(
        select(Contact.email, Contact.id, Outreach.id)
        .join(Outreach, Outreach.contact_id == Contact.id)
        .where(Outreach.user_id == user_id, Outreach.state.in_(_OPEN_STATES))
        .order_by(Outreach.state_changed_at)
    )
    # The most recently changed outreach wins when a contact is in several targets.
    return {email: (contact_id, outreach_id) for email, contact_id, outreach_id in rows}


# How long before the user's first request a folder read from scratch still looks:
# SEARCH SINCE compares days in the server's own time zone, and clocks drift.
HORIZON_MARGIN = timedelta(days=2)


def reply_horizon(session: Session, user_id: int, now: datetime) -> date:
    """The first day on which mail can concern any of the user's outreaches.

    Nothing can answer, bounce or echo a request before it left: every rule that
    matches a message (its thread, the Gmail thread, a bounce quoting us, the
    sender or recipient of an outreach in progress) needs a request sent first.
    So a first sync asks the server only for what arrived since the user's first
    request went out (through any mailbox, whenever that was) and passes over the
    years of mail before it. A user who has sent nothing yet has nothing to read.
    """
    first_sent = session.scalar(
        select(func.min(func.coalesce(Message.sent_at, Message.claimed_at))).where(
            Message.user_id == user_id, Message.direction == Direction.OUTBOUND
        )
    )
    start = min(first_sent, now) if first_sent is not None else now
    return (start - HORIZON_MARGIN).date()


def sync_mailbox(
    session: Session,
    mailbox: Mailbox,
    source: MailSource,
    now: datetime,
    folders: Sequence[str] = ("INBOX",),
) -> SyncReport:
    """Read new mail in `folders` and record what answers an outreach.

    Safe to run again at any time: messages are recognised by Message-ID, so a
    UIDVALIDITY change (which renumbers a folder) counts nothing twice.
    """
    report = SyncReport()
    # Every folder is read before anything is written: on SQLite a write takes the
    # database's one write lock, and other mailboxes' syncs must not wait on this
    # server's answers meanwhile.
    read: list[tuple[str, MailboxSyncState, int, FolderBatch]] = []
    horizon: date | None = None  # read once, and only for a folder read from scratch
    with session.no_autoflush:
        # The Sent folder first: our own messages come before the answers to them,
        # so a reply read in the same round finds their ids and Gmail thread ids.
        for folder in sorted(folders, key=lambda name: name != mailbox.sent_folder):
            state = _sync_state(session, mailbox, folder)
            last_uid = state.last_uid
            # Only the first sync of a folder starts at the horizon: later ones read
            # every new UID, whatever date the server gave the message.
            if state.uidvalidity is None:
                horizon = horizon or reply_horizon(session, mailbox.user_id, now)
                batch = source.fetch_new(folder, last_uid, horizon)
            else:
                batch = source.fetch_new(folder, last_uid)
            if state.uidvalidity is not None and batch.uidvalidity != state.uidvalidity:
                # The server renumbered the folder: read it all again, from the horizon;
                # Message-IDs already stored keep anything from being counted twice.
                report.resynced.append(folder)
                last_uid = 0
                horizon = horizon or reply_horizon(session, mailbox.user_id, now)
                batch = source.fetch_new(folder, last_uid, horizon)
            read.append((folder, state, last_uid, batch))
    if any(batch.messages for _folder, _state, _uid, batch in read):
        # What new mail is matched against: read only when there is some, as most
        # syncs find nothing (each user's messages can be many).
        sent_ids, inbound_ids = _known_ids(session, mailbox.user_id)
        threads = _known_threads(session, mailbox.user_id)
        by_address = _open_by_address(session, mailbox.user_id)
    else:
        sent_ids, inbound_ids, threads, by_address = {}, set(), {}, {}
    domains = by_domain(by_address)
    own = frozenset({mailbox.email_address.lower()})
    for folder, state, last_uid, batch in read:
        state.uidvalidity = batch.uidvalidity
        report.folders[folder] = len(batch.messages)
        for fetched in batch.messages:
            try:
                # One that breaks something is recorded as unreadable and the others
                # are still taken in: what it wrote is undone by its savepoint.
                matched = _take_in(
                    session,
                    mailbox,
                    source,
                    folder,
                    batch.uidvalidity,
                    fetched,
                    sent_ids,
                    inbound_ids,
                    threads,
                    by_address,
                    domains,
                    own,
                    now,
                )
            except MailboxError:
                raise  # the connection broke: nothing of this round is kept
            except Exception as error:  # noqa: BLE001 - hostile input must not stop the poller
                log.warning("message %s in %s could not be read: %r", fetched.uid, folder, error)
                record(
                    session,
                    user_id=mailbox.user_id,
                    kind="inbound:unreadable",
                    detail=f"a message in {folder} (UID {fetched.uid}) could not be read: {error}",
                    now=now,
                )
                report.unreadable += 1
                continue
            report.matched += int(matched)
        state.last_uid = max(
            [last_uid, batch.passed_uid, *(fetched.uid for fetched in batch.messages)]
        )
        session.flush()
    mailbox.last_synced_at = now
    return report


def _take_in(
    session: Session,
    mailbox: Mailbox,
    source: MailSource,
    folder: str,
    uidvalidity: int,
    fetched: FetchedHeaders,
    sent_ids: dict[str, ThreadRef],
    inbound_ids: set[str],
    threads: dict[int, ThreadRef],
    by_address: dict[str, tuple[int, int]],
    domains: dict[str, tuple[int, int]],
    own: frozenset[str],
    now: datetime,
) -> bool:
    """Classify, match and store one fetched message; True when it belongs to an outreach.

    Whatever it writes is written in a savepoint, taken only then: most messages
    concern no outreach and write nothing, and a first sync reads thousands.
    """
    headers = parse_headers(fetched.raw_headers)
    message_id = headers.get("message-id", "")
    ids = message_ids_in(message_id)
    key = ids[0] if ids else ""
    thread_id = fetched.gm_thread_id
    if key and (key in inbound_ids or key in sent_ids):
        if key in sent_ids and thread_id is not None:
            # The copy of our own message on Gmail: its thread id lets replies
            # that dropped In-Reply-To and References be matched to the outreach.
            with session.begin_nested():
                _remember_thread_id(session, mailbox.user_id, key, thread_id)
            threads[thread_id] = sent_ids[key]
        return False  # already recorded, or a copy of our own message
    original = message_ids_in(headers.get("x-microsoft-original-message-id"))
    if key and original and original[0] in sent_ids:
        # Our own message, filed under the id the provider gave it: remember that
        # id, so that replies citing it are matched to the outreach as well.
        with session.begin_nested():
            _remember_provider_id(session, mailbox.user_id, original[0], ids[0])
        sent_ids[key] = sent_ids[original[0]]
        return False
    reading = read_headers(headers, own)
    kind = reading.kind
    if kind is InboundKind.OWN_MESSAGE:
        # The user's own mail (from the Sent folder, or All Mail): it is
        # matched by the thread or by whom it went to, never by sender.
        match = match_reply(
            headers.get("in-reply-to"),
            headers.get("references"),
            headers.get("to"),
            sent_ids,
            by_address,
            gm_thread_id=thread_id,
            sent_threads=threads,
        )
        if match is not None and match.rule == "sender":
            match = Match("recipient", match.contact_id, match.outreach_id)
    else:
        match = match_reply(
            headers.get("in-reply-to"),
            headers.get("references"),
            headers.get("from"),
            sent_ids,
            by_address if kind is InboundKind.REPLY else {},
            domains if kind is InboundKind.REPLY else None,
            gm_thread_id=thread_id,
            sent_threads=threads,
        )
    raw: bytes | None = None
    if match is None and (
        kind is InboundKind.BOUNCE or has_report_subject(headers.get("subject", ""))
    ):
        # A bounce quotes our message: look for one of our Message-IDs inside it. Some
        # servers sign their reports with no sign the headers can tell but the subject
        # ("Mail could not be delivered" from a virus wall): their body is read too.
        raw = source.fetch_body(folder, fetched.uid)
        match = _match_bounce(raw, sent_ids)
    if match is None:
        return False
    if raw is None:
        raw = source.fetch_body(folder, fetched.uid)
    # The cycle acts on what the whole message is, not on what its headers suggested.
    reading = reading.with_body(raw, now)
    kind = reading.kind
    if kind is InboundKind.OTHER:
        with session.begin_nested():
            _note_other(session, mailbox, reading, match, now)
        return False
    if kind is not InboundKind.REPLY and match.rule in _REPLIES_ONLY:
        return False  # as if the headers had told: only a reply is matched by its sender
    with session.begin_nested():
        stored = _store(
            session,
            mailbox,
            folder,
            uidvalidity,
            fetched.uid,
            headers,
            raw,
            kind,
            match,
            now,
            thread_id,
        )
        if key and kind is InboundKind.OWN_MESSAGE:
            # A reply to the user's own message must thread to the outreach too.
            sent_ids[key] = ThreadRef(match.outreach_id, match.contact_id)
        elif key:
            inbound_ids.add(key)
        if thread_id is not None and kind is InboundKind.OWN_MESSAGE:
            threads[thread_id] = ThreadRef(match.outreach_id, match.contact_id)
        _apply(session, stored, kind, now, reading)
        if kind is InboundKind.REPLY:
            read_invitation(session, stored, raw, now)  # a calendar invitation proposes a meeting
    return True


# Matched by whom it came from, not by the thread: rules only a person's reply may use.
_REPLIES_ONLY = frozenset({"sender", POSSIBLE_REPLY})


def _note_other(
    session: Session, mailbox: Mailbox, reading: Reading, match: Match, now: datetime
) -> None:
    """A receipt, a report of no failure, or an unreadable message: noted, nothing moves."""
    what = reading.problem or "a read receipt or a delivery notice that reports no failure"
    record(
        session,
        user_id=mailbox.user_id,
        kind=f"inbound:{InboundKind.OTHER.value}",
        detail=f"a message that is not an answer (matched by {match.rule}): {what}",
        now=now,
        contact_id=match.contact_id,
        outreach_id=match.outreach_id,
    )


def _remember_provider_id(session: Session, user_id: int, ours: str, theirs: str) -> None:
    # Our Message-IDs are generated in lower case, so `ours` compares as stored.
    message = session.scalar(
        select(Message).where(
            Message.user_id == user_id,
            Message.direction == Direction.OUTBOUND,
            Message.message_id == ours,
        )
    )
    if message is not None:
        message.provider_message_id = theirs


def _remember_thread_id(session: Session, user_id: int, key: str, thread_id: int) -> None:
    # `key` is normalised; stored ids are too (ours are generated in lower case,
    # the others are stored through message_ids_in).
    message = session.scalar(
        select(Message).where(
            Message.user_id == user_id,
            Message.direction == Direction.OUTBOUND,
            (Message.message_id == key) | (Message.provider_message_id == key),
        )
    )
    if message is not None and message.gm_thread_id != thread_id:
        message.gm_thread_id = thread_id


def _match_bounce(raw: bytes, sent_ids: dict[str, ThreadRef]) -> Match | None:
    """The outreach whose Message-ID a bounce quotes, if any."""
    for candidate in message_ids_in(raw.decode("utf-8", errors="replace")):
        ref = sent_ids.get(candidate)
        if ref is not None:
            return Match("bounce_body", ref.contact_id, ref.outreach_id)
    return None


def _store(
    session: Session,
    mailbox: Mailbox,
    folder: str,
    uidvalidity: int,
    uid: int,
    headers: dict[str, str],
    raw: bytes,
    kind: InboundKind,
    match: Match,
    now: datetime,
    gm_thread_id: int | None = None,
) -> Message:
    ids = message_ids_in(headers.get("message-id"))
    own = kind is InboundKind.OWN_MESSAGE
    message = Message(
        user_id=mailbox.user_id,
        mailbox_id=mailbox.id,
        contact_id=match.contact_id,
        outreach_id=match.outreach_id,
        direction=Direction.OUTBOUND if own else Direction.INBOUND,
        kind=_KIND[kind],
        status=MessageStatus.SENT if own else MessageStatus.RECEIVED,
        message_id=ids[0] if ids else None,
        in_reply_to=headers.get("in-reply-to"),
        references=headers.get("references", ""),
        from_address=address_of(headers.get("from")),
        to_address=address_of(headers.get("to")),
        subject=headers.get("subject", ""),
        body_text=text_of(raw),
        folder=folder,
        uidvalidity=uidvalidity,
        uid=uid,
        received_at=now,
        match_rule=match.rule,
        # Kept on the user's own messages only: replies in their thread match them.
        gm_thread_id=gm_thread_id if own else None,
    )
    session.add(message)
    session.flush()
    return message


_DESCRIPTIONS = {
    InboundKind.REPLY: "reply received",
    InboundKind.AUTO_REPLY: "automatic reply received",
    InboundKind.BOUNCE: "delivery failed: the message bounced",
    InboundKind.OWN_MESSAGE: "you wrote to them from another mail client",
    InboundKind.GONE: "automatic reply: the address is no longer read or they have left",
}


def _apply(
    session: Session,
    message: Message,
    kind: InboundKind,
    now: datetime,
    details: Reading,
) -> None:
    detail = f"{_DESCRIPTIONS[kind]} (matched by {message.match_rule})"
    outreach = session.get(Outreach, message.outreach_id) if message.outreach_id else None
    trigger = {
        InboundKind.REPLY: Trigger.REPLY_RECEIVED,
        InboundKind.BOUNCE: Trigger.BOUNCE_RECEIVED,
        # Nobody reads the address any more: the next name gets the place, as after a bounce.
        InboundKind.GONE: Trigger.BOUNCE_RECEIVED,
    }.get(kind)
    bounce = details.bounce
    if kind is InboundKind.BOUNCE and bounce is not None and not bounce.hard:
        # Mailbox full, greylisted, delayed: the address is fine; nothing ends here.
        trigger = None
        detail = f"delivery delayed or refused for now ({bounce.status or 'no status'}): " + (
            bounce.diagnostic or "the server will keep trying"
        )
    elif kind is InboundKind.BOUNCE and bounce is not None:
        detail = f"the address failed ({bounce.status}): {bounce.diagnostic}".rstrip(": ")
    if kind is InboundKind.AUTO_REPLY and details.return_date is not None:
        detail = f"automatic reply: away until {details.return_date:%A %d %B %Y}"
    if kind is InboundKind.AUTO_REPLY and details.auto_reply and details.auto_reply.challenge:
        detail = (
            "their mail filter holds your message until you confirm you are a person: "
            "open the message in your mailbox to do so"
        )
    if kind is InboundKind.REPLY and outreach is not None and details.unsubscribe:
        contact = session.get(Contact, message.contact_id) if message.contact_id else None
        if contact is not None:
            contact.do_not_contact = True
        trigger = Trigger.DECLINE_RECEIVED
        detail = "they asked not to be contacted again: marked do-not-contact"
    elif kind is InboundKind.REPLY and outreach is not None and details.declines:
        trigger = Trigger.DECLINE_RECEIVED
        detail = f"they declined (matched by {message.match_rule}); the next name is up"
    if details.suggests_others:
        detail += "; they suggest other people to talk to"
    if outreach is not None and message.match_rule == POSSIBLE_REPLY:
        # Only the domain matched: the user says whether it answers the request.
        sender = message.from_address or "someone"
        note_message(
            session,
            message,
            "inbound:possible_reply",
            f"possible reply from {sender}, at the same organisation's domain: "
            "confirm or dismiss it; nothing changes until you do",
            now,
        )
        return
    if outreach is not None and trigger is not None and can_apply(outreach.state, trigger):
        transition(session, outreach, trigger, now, detail, message.id)
        return
    if outreach is not None and kind is InboundKind.OWN_MESSAGE:
        # The user is handling this conversation: no automated follow-up any more.
        outreach.handled_by_user = True
        outreach.next_step_at = None
        cancel_unsent(
            session,
            outreach,
            now,
            "cancelled: you are writing to them yourself",
            kinds=(MessageKind.FOLLOW_UP,),
        )
        detail = (
            f"you wrote to them from another mail client (matched by {message.match_rule}); "
            "automatic follow-ups stop"
        )
    elif (
        outreach is not None
        and kind is InboundKind.AUTO_REPLY
        and outreach.state in CLOCKED
        and outreach.next_step_at is not None
        # A challenge says nothing of the person's absence: the clock runs on.
        and not (details.auto_reply and details.auto_reply.challenge)
    ):
        detail = pause_for_absence(session, outreach, details.return_date, now)
    elif outreach is not None and kind is InboundKind.REPLY and outreach.state in ANSWERED:
        detail = f"another reply received (matched by {message.match_rule})"
    note_message(session, message, f"inbound:{kind.value}", detail, now)
