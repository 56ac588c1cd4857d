"""The sandbox's compressed time: a business day lasts OUTREACH_SANDBOX_DAY_SECONDS.

The cycle waits real business days (Target.wait_business_days >= 1) before a
follow-up and before "no reply". For sandbox contacts only, the sandbox process
runs `TimeWarp.step` every few seconds: when an outreach's clock
(`next_step_at`) is N business days away, it is brought forward to now once N x
day_seconds have passed since the sandbox first saw that clock. The real
scheduler (outreach.scheduler) then takes the step as it would have days later.

The bring-forward is a compare-and-set on (id, next_step_at), so a clock the
poller or scheduler changed in the meantime is left alone, and each is written on
the contact's timeline: the compression is never hidden.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from outreach.db import compare_and_set
from outreach.models import Contact, Mailbox, Outreach, Target, User
from outreach.rules import cycle
from outreach.rules.sandbox_addresses import SANDBOX_DOMAIN
from outreach.targets import calendar_of
from outreach.timeline import note_about


@dataclass
class TimeWarp:
    """Remembers when each sandbox clock was first seen; brings it forward when due."""

    day_seconds: float
    # outreach id -> (the next_step_at seen, when the sandbox first saw it)
    seen: dict[int, tuple[datetime, datetime]] = field(default_factory=dict)

    def step(self, session: Session, now: datetime) -> list[str]:
        """Bring forward every sandbox clock whose compressed wait has passed.

        Returns one line per clock brought forward.
        """
        sandbox_users = select(Mailbox.user_id).where(
            Mailbox.email_address.like(f"%@{SANDBOX_DOMAIN}")
        )
        rows = session.execute(
            select(Outreach, Contact, User)
            .join(Contact, Contact.id == Outreach.contact_id)
            .join(Target, Target.id == Outreach.target_id)
            .join(User, User.id == Outreach.user_id)
            .where(
                Outreach.state.in_(cycle.CLOCKED),
                Outreach.next_step_at.is_not(None),
                Outreach.next_step_at > now,
                Outreach.handled_by_user.is_(False),
                Target.paused.is_(False),
                Contact.email.like(f"%.{SANDBOX_DOMAIN}"),
                Outreach.user_id.in_(sandbox_users),
            )
        ).all()
        live: set[int] = set()
        lines: list[str] = []
        for outreach, contact, user in rows:
            live.add(outreach.id)
            clock = outreach.next_step_at
            assert clock is not None
            seen = self.seen.get(outreach.id)
            if seen is None or seen[0] != clock:
                self.seen[outreach.id] = (clock, now)
                continue
            first_seen = seen[1]
            calendar = calendar_of(user)
            days = max(1, calendar.between(first_seen, clock))
            if now < cycle.compressed_due(first_seen, clock, calendar, self.day_seconds):
                continue
            moved = compare_and_set(
                session,
                update(Outreach)
                .where(Outreach.id == outreach.id, Outreach.next_step_at == clock)
                .values(next_step_at=now),
            )
            self.seen.pop(outreach.id, None)
            if not moved:
                continue
            plural = "s" if days != 1 else ""
            detail = (
                f"sandbox: {days} business day{plural} passed in "
                f"{days * self.day_seconds:g} seconds"
            )
            note_about(session, outreach, "sandbox:time_compressed", detail, now)
            lines.append(f"{contact.name}: {detail}")
        for stale in set(self.seen) - live:
            del self.seen[stale]
        return lines
