""" "Try it with the sandbox": a pretend mailbox and contacts, for a newcomer without one.

The button on the Mailbox page does what `outreach sandbox --user` does for the
signed-in person (outreach.sandbox.demo) and lands on the board. An adviser's
"Try a demo cohort" does what `outreach sandbox --demo-cohort` does
(outreach.sandbox.demo_cohort) and lands on that cohort's page. Every page
says when the person is in the sandbox (templates/sandbox/_banner.html, fed by
`sandbox_context`).
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, url_for
from flask.typing import ResponseReturnValue

from outreach.accounts import list_mailboxes
from outreach.models import Role
from outreach.rules.sandbox_addresses import SANDBOX_LABEL, is_sandbox
from outreach.sandbox.demo import SandboxPorts, sandbox_mailbox, set_up_sandbox
from outreach.sandbox.demo_cohort import remove_demo_cohort, set_up_demo_cohort
from web.attempt import attempt
from web.auth import current_user, is_signed_in
from web.db import get_session
from web.forms import ActionForm
from web.helpers import now
from web.state import services

bp = Blueprint("sandbox", __name__)


@bp.post("/sandbox")
def start() -> ResponseReturnValue:
    """Set the signed-in person up in the sandbox, draft the first requests, show the board."""
    session = get_session()
    settings = services().settings
    if not settings.sandbox_enabled:
        flash("The sandbox is switched off on this Outreach (OUTREACH_SANDBOX=off).", "error")
        return redirect(url_for("mailboxes.index"))
    with attempt(session) as outcome:
        setup = set_up_sandbox(
            session,
            current_user(),
            services().secret_box,
            SandboxPorts(smtp=settings.sandbox_smtp_port, imap=settings.sandbox_imap_port),
            now(),
        )
    if outcome.refused:
        return redirect(url_for("mailboxes.index"))
    drafted = len(setup.drafted)
    # The banner above it already says this is the sandbox.
    message = (
        f"Your sandbox mailbox {setup.mailbox.email_address} is ready, with "
        f"{len(setup.target.entries)} pretend contacts in “{setup.target.name}”. "
    )
    if drafted:
        message += (
            f"{drafted} request{'s' if drafted != 1 else ''} wait for your approval in Drafts; "
            "approve them and watch the answers arrive here."
        )
    if setup.introduction_added:
        message += " Your profile had no introduction, so an example one was put in."
    flash(message, "success")
    return redirect(url_for("board.index"))


@bp.post("/sandbox/demo-cohort")
def demo_cohort() -> ResponseReturnValue:
    """Make (or make afresh) the adviser's demo cohort of pretend students, and show it."""
    if not ActionForm().validate_on_submit():
        abort(400)
    session = get_session()
    settings = services().settings
    if not settings.sandbox_enabled:
        flash("The sandbox is switched off on this Outreach (OUTREACH_SANDBOX=off).", "error")
        return redirect(url_for("cohorts.index"))
    with attempt(session) as outcome:
        demo = set_up_demo_cohort(
            session,
            current_user(),
            services().secret_box,
            SandboxPorts(smtp=settings.sandbox_smtp_port, imap=settings.sandbox_imap_port),
            now(),
        )
    if outcome.refused:
        return redirect(url_for("cohorts.index"))
    flash(
        f"{SANDBOX_LABEL}. {demo.cohort.name} is ready, with {demo.students} pretend students "
        "who cannot sign in or send mail. Remove it from your cohorts page when you are done.",
        "success",
    )
    return redirect(url_for("cohorts.report", cohort_id=demo.cohort.id))


@bp.post("/sandbox/demo-cohort/remove")
def remove_demo() -> ResponseReturnValue:
    """Take the demo cohort and its pretend students away."""
    if not ActionForm().validate_on_submit():
        abort(400)
    session = get_session()
    removed = remove_demo_cohort(session, current_user())
    session.commit()
    if removed:
        flash("The demo cohort and its pretend students are gone.", "success")
    return redirect(url_for("cohorts.index"))


@bp.app_context_processor
def sandbox_context() -> dict[str, object]:
    """For every page: the person's sandbox mailbox address (None outside the sandbox)."""
    context: dict[str, object] = {
        "sandbox_label": SANDBOX_LABEL,
        "sandbox_address": None,
        "sandbox_blocked": False,
        "sandbox_offered": services().settings.sandbox_enabled,
        # A number, so the templates can make "second" agree with it.
        "sandbox_day_seconds": services().settings.sandbox_day_seconds,
        "demo_cohort_offered": False,
    }
    if not is_signed_in():
        return context
    user = current_user()
    context["demo_cohort_offered"] = user.role == Role.ADVISER
    session = get_session()
    mailbox = sandbox_mailbox(session, user)
    if mailbox is not None:
        context["sandbox_address"] = mailbox.email_address
    else:
        context["sandbox_blocked"] = any(
            not is_sandbox(other) for other in list_mailboxes(session, user)
        )
    return context
