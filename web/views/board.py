"""The status board: where every contact stands, in every target."""

from __future__ import annotations

from collections import Counter

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue
from wtforms import SelectChoice

from outreach.accounts import primary_mailbox
from outreach.board import STATE_LABELS, status_board
from outreach.contacts import list_contacts
from outreach.states import OutreachState
from outreach.targets import list_targets
from web.auth import current_user
from web.db import get_session
from web.forms import BoardFilterForm
from web.helpers import now
from web.progress import request_progress, with_outbox_detail

bp = Blueprint("board", __name__)


def _state_or_none(value: str | None) -> OutreachState | None:
    try:
        return OutreachState(value) if value else None
    except ValueError:
        # An unknown state in a hand-written URL shows everyone, not an error.
        return None


@bp.get("/")
def index() -> ResponseReturnValue:
    """Every outreach, newest change first; ?target=<id>&state=<state> filter it."""
    session = get_session()
    user = current_user()
    targets = list_targets(session, user)
    filters = BoardFilterForm(request.args)
    filters.target.choices = [SelectChoice("", "All targets")] + [
        SelectChoice(str(target.id), target.name) for target in targets
    ]
    target_id = filters.target.data
    state = _state_or_none(filters.state.data)
    rows, in_outbox = with_outbox_detail(
        status_board(session, user, now(), target_id=target_id, state=state),
        request_progress(session, user),
    )
    filtered = target_id is not None or state is not None

    # Nothing at all yet: show the three steps instead of an empty table.
    first_steps = None
    if not rows and not filtered:
        first_steps = {
            "mailbox": primary_mailbox(session, user) is not None,
            "contacts": bool(list_contacts(session, user)),
            "target": bool(targets),
        }
    counts = Counter(row.state for row in rows)
    summary = [
        (state, STATE_LABELS[state], counts[state]) for state in OutreachState if counts[state]
    ]
    return render_template(
        "board/index.html",
        rows=rows,
        filters=filters,
        filtered=filtered,
        first_steps=first_steps,
        summary=summary,
        in_outbox=in_outbox,
    )
