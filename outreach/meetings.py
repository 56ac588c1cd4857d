"""Meetings and what follows them: confirmation, notes, referrals, thank-you, keep in touch.

(Being written this session; `run_due` is called by outreach.scheduler.)
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session


def run_due(session: Session, now: datetime) -> list[str]:
    """Take every meeting step that is due at `now`; return one line per step taken.

    Idempotent: a second run at the same moment takes no step.
    """
    return []
