"""The status board: where every contact stands, in every target, a page at a time.

Above the table: the funnel (requests sent, replies, meetings, met, thanked)
and the month's progress toward the user's own goal, with the last weeks drawn
as bars. Every figure is one aggregate query, so the page costs the same for
ten names or ten thousand.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    make_response,
    render_template,
    request,
    url_for,
)
from flask import session as cookie_session
from flask.typing import ResponseReturnValue
from wtforms import SelectChoice

from outreach.accounts import primary_mailbox
from outreach.attention import MailboxProblem, board_version
from outreach.board import STATE_LABELS, status_board
from outreach.contacts import list_contacts
from outreach.models import User
from outreach.progress_stats import GoalProgress
from outreach.rules import local_time
from outreach.rules.cycle import zone_of
from outreach.rules.states import OutreachState
from outreach.targets import list_targets
from web.auth import current_user
from web.db import get_session
from web.forms import BoardFilterForm
from web.helpers import clip, local_date, now
from web.paging import make_pager, page_number
from web.progress import request_progress, with_outbox_detail
from web.state import services
from web.views.mailboxes import ALERTS_KEY, mailbox_alerts

bp = Blueprint("board", __name__)

PER_PAGE = 50


def url_maker(endpoint: str, argument: str) -> Callable[[int], str]:
    """A maker of `endpoint`'s URLs by one id: the route is built once, not once per row.

    url_for costs about 0.1 ms; 50 rows with two links each spent more on it than
    on the page's query.
    """
    marker = 987654321
    values: dict[str, Any] = {argument: marker}
    prefix, suffix = url_for(endpoint, **values).split(str(marker))
    return lambda value: f"{prefix}{int(value)}{suffix}"


def _state_or_none(value: str | None) -> OutreachState | None:
    try:
        return OutreachState(value) if value else None
    except ValueError:
        # An unknown state in a hand-written URL shows everyone, not an error.
        return None


def goal_in_words(goal: GoalProgress) -> str:
    """ "1 more to reach your goal. Of this month's 2, 1 is still to come." """
    if goal.reached:
        words = "Goal reached. Well done!"
    elif goal.total == 0:
        words = "No meeting this month yet: replies that agree to talk lead to one."
    else:
        words = f"{goal.goal - goal.total} more to reach your goal."
    if goal.booked:
        verb = "is" if goal.booked == 1 else "are"
        words += f" Of this month's {goal.total}, {goal.booked} {verb} still to come."
    return words


def local_day(value: datetime, time_zone: str) -> str:
    """ "24 Nov 2026", in the user's zone."""
    return local_time.date_only(value, time_zone)


@bp.get("/")
def index() -> ResponseReturnValue:
    """The board; ?target=<id>&state=<state>&page=<n> filter and page it."""
    user = current_user()
    moment = now()
    # The signed-in user's row, read for this request, holds their data's version.
    data_version = board_version(user.data_version, user.time_zone, moment)
    return _kept_or_rendered("board/index.html", user, moment, data_version)


@bp.get("/board/live")
def live() -> ResponseReturnValue:
    """The changing parts of the board, for its script to swap in without a reload.

    Takes the board's own ?target, ?state and ?page. An unchanged board costs
    no query but the signed-in user's row: the browser sends the version it has
    as If-None-Match and gets 304 Not Modified back.
    """
    user = current_user()
    moment = now()
    data_version = board_version(user.data_version, user.time_zone, moment)
    version = live_version(user, data_version)
    if version in request.if_none_match:
        response = Response(status=304)
    else:
        response = make_response(_kept_or_rendered("board/_live.html", user, moment, data_version))
    response.set_etag(version)
    # Always ask again: the page is the user's own and changes by itself.
    response.headers["Cache-Control"] = "private, no-cache"
    response.vary.add("Cookie")
    return response


def _kept_or_rendered(template: str, user: User, moment: datetime, data_version: str) -> str:
    """`template` rendered for the board, or the same page kept from an earlier request.

    Kept per user, data version, query and the sign-in's CSRF token (web.page_cache);
    a page that shows a flash message is neither served from nor kept in the cache,
    since the message is said once.
    """
    pages = services().board_pages
    token_name = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    flashed = "_flashes" in cookie_session
    token = cookie_session.get(token_name)
    if flashed:
        return _rendered(template, user, moment, data_version)
    if token is None:
        # The first page of a sign-in: its forms make the token, which keys the page.
        body = _rendered(template, user, moment, data_version)
        token = cookie_session.get(token_name)
        if token is not None:
            key = (template, user.id, data_version, request.query_string, token)
            pages.put(key, body, {ALERTS_KEY: g.get(ALERTS_KEY)})
        return body
    key = (template, user.id, data_version, request.query_string, token)
    with pages.rendering(key):
        kept = pages.get(key)
        if kept is not None:
            for name, value in kept.extras:
                setattr(g, name, value)
            return kept.body
        body = _rendered(template, user, moment, data_version)
        pages.put(key, body, {ALERTS_KEY: g.get(ALERTS_KEY)})
        return body


def _rendered(template: str, user: User, moment: datetime, data_version: str) -> str:
    return render_template(
        template, version=live_version(user, data_version), **_board(user, moment, data_version)
    )


def live_version(user: User, data_version: str) -> str:
    """The ETag of the live fragment: whose, the data's version, and the filter and page asked."""
    asked = "&".join(f"{key}={request.args.get(key, '')}" for key in ("target", "state", "page"))
    return hashlib.sha256(f"{user.id}|{data_version}|{asked}".encode()).hexdigest()[:20]


def day_in_words(value: datetime, time_zone: str, moment: datetime) -> str:
    """ "today", "yesterday" or "on 24 Nov 2026", by the user's calendar."""
    day = value.astimezone(zone_of(time_zone)).date()
    today = moment.astimezone(zone_of(time_zone)).date()
    if day == today:
        return "today"
    if (today - day).days == 1:
        return "yesterday"
    return f"on {local_day(value, time_zone)}"


def clock_time(value: datetime, time_zone: str) -> str:
    """ "15:00", in the user's zone."""
    return local_time.clock_time(value, time_zone)


def _board(user: User, moment: datetime, data_version: str) -> dict[str, Any]:
    """What the board page and its live fragment show, for ?target, ?state and ?page.

    The figures (counts, funnel, goal, weeks, attention panel) come from the
    app's cache while `data_version` stays the same; the page of rows is read
    for every request.
    """
    session = get_session()
    targets = list_targets(session, user)
    filters = BoardFilterForm(request.args)
    filters.target.choices = [SelectChoice("", "All targets")] + [
        SelectChoice(str(target.id), clip(target.name)) for target in targets
    ]
    target_id = filters.target.data
    if target_id is not None and target_id not in {target.id for target in targets}:
        # Someone else's target (or none): the filter matches nothing of theirs.
        target_id = None
        filters.target.data = None
    state = _state_or_none(filters.state.data)
    filtered = target_id is not None or state is not None

    figures = services().board_figures.figures(
        session,
        user,
        moment,
        data_version,
        target_id=target_id,
        # The banner's list, read once for the whole page.
        mailboxes=[
            MailboxProblem(alert.mailbox_id, alert.address, alert.needs_sign_in)
            for alert in mailbox_alerts()
        ],
    )
    counts = figures.counts
    total = counts.get(state, 0) if state is not None else sum(counts.values())
    pager = make_pager(page_number(request.args.get("page")), total, PER_PAGE)
    page = status_board(
        session,
        user,
        moment,
        target_id=target_id,
        state=state,
        limit=PER_PAGE,
        offset=pager.offset,
        sandbox_day_seconds=services().settings.sandbox_day_seconds,
    )
    rows, in_outbox = with_outbox_detail(
        page,
        request_progress(
            session, user, {row.outreach_id for row in page if row.outreach_id is not None}
        ),
    )
    # The Meetings tab's count is in the figures already (web.views.meetings reads it).
    g.meetings_attention = figures.attention.invitations_to_confirm + len(
        figures.attention.overdue_thank_yous
    )

    # Nothing at all yet: show the three steps instead of an empty table.
    first_steps = None
    if total == 0 and not filtered:
        first_steps = {
            "mailbox": primary_mailbox(session, user) is not None,
            "contacts": bool(list_contacts(session, user)),
            "target": bool(targets),
        }
    summary = [
        (each, STATE_LABELS[each], counts[each]) for each in OutreachState if counts.get(each)
    ]
    goal = figures.goal
    query = {"target": target_id, "state": state.value if state else None}

    def page_url(number: int) -> str:
        arguments = {key: value for key, value in query.items() if value is not None}
        if number > 1:
            arguments["page"] = number
        encoded = urlencode(arguments)
        return url_for("board.index") + (f"?{encoded}" if encoded else "")

    def state_url(each: OutreachState) -> str:
        arguments: dict[str, object] = {"state": each.value}
        if target_id is not None:
            arguments["target"] = target_id
        return url_for("board.index") + "?" + urlencode(arguments)

    return dict(
        rows=rows,
        filters=filters,
        filtered=filtered,
        first_steps=first_steps,
        summary=summary,
        in_outbox=in_outbox,
        pager=pager,
        page_url=page_url,
        state_url=state_url,
        funnel=figures.funnel if first_steps is None else [],
        goal=goal,
        goal_words=goal_in_words(goal),
        weeks=figures.weeks,
        time_zone=user.time_zone,
        local_day=local_day,
        local_date=local_date,
        target_name=next((t.name for t in targets if t.id == target_id), None),
        attention=figures.attention,
        clock_time=clock_time,
        day_in_words=lambda value: day_in_words(value, user.time_zone, moment),
        live_url=url_for("board.live"),
        contact_url=url_maker("contacts.detail", "contact_id"),
        target_url=url_maker("targets.detail", "target_id"),
        reply_url=url_maker("replies.compose", "outreach_id"),
    )
