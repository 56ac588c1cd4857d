"""The admin's page: invitations to sign up, and who is an adviser.

Only an admin sees it; to everyone else every admin route is not found (404), as if
it did not exist. The rules are the core's (outreach.signup, outreach.roles).
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from outreach import roles, signup
from outreach.errors import NotFound
from outreach.models import Role, SignupInvite
from web.admin_forms import ROLE_WORDS, InviteForm, RoleForm
from web.attempt import attempt
from web.auth import current_user
from web.db import get_session
from web.forms import ActionForm
from web.helpers import now
from web.state import services

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
def only_admins() -> None:
    # After the app's login check: an anonymous visitor has been sent to log in already.
    if not roles.is_admin(current_user()):
        abort(404)


def _page(invite_form: InviteForm | None = None, link: str | None = None) -> str:
    session = get_session()
    admin = current_user()
    moment = now()
    invites = sorted(signup.list_invites(session), key=lambda invite: -invite.id)
    return render_template(
        "admin/index.html",
        invites=[(invite, signup.invite_state(invite, moment)) for invite in invites],
        accounts=roles.accounts(session, admin),
        admin=admin,
        invite_form=invite_form or InviteForm(formdata=None),
        role_form=RoleForm(formdata=None),
        action_form=ActionForm(formdata=None),
        link=link,
        signup_mode=services().settings.signup,
        role_words=ROLE_WORDS,
    )


@bp.get("")
def index() -> ResponseReturnValue:
    return _page()


@bp.post("/invites")
def invite() -> ResponseReturnValue:
    """Make an invitation and show its link on this answer only: only its hash is kept."""
    form = InviteForm()
    if not form.validate_on_submit():
        flash("No invitation was made: see the reasons by the fields.", "error")
        return _page(form), 400
    session = get_session()
    with attempt(session) as outcome:
        made = signup.create_invite(
            session, form.email.data or "", now(), form.days.data or 0, Role(form.role.data)
        )
    if outcome.refused:
        return _page(form), 400
    public_url = services().settings.public_url or request.host_url
    # The page is answered here, not after a redirect: the link must not wait in the cookie.
    return _page(link=made.link(public_url))


@bp.post("/invites/<int:invite_id>/revoke")
def revoke(invite_id: int) -> ResponseReturnValue:
    if not ActionForm().validate_on_submit():
        abort(400)
    session = get_session()
    if session.get(SignupInvite, invite_id) is None:
        abort(404)
    try:
        with attempt(session) as outcome:
            (revoked,) = signup.revoke_invites(session, str(invite_id), now())
    except NotFound:
        flash("That invitation was no longer waiting: it was used, expired or revoked.", "error")
        return redirect(url_for("admin.index"))
    if not outcome.refused:
        flash(f"The invitation for {revoked.email} is revoked: its link stops working.", "success")
    return redirect(url_for("admin.index"))


@bp.post("/accounts/<int:user_id>/role")
def change_role(user_id: int) -> ResponseReturnValue:
    form = RoleForm()
    if not form.validate_on_submit():
        abort(400)
    session = get_session()
    try:
        with attempt(session) as outcome:
            changed = roles.set_role(session, current_user(), user_id, Role(form.role.data))
    except NotFound:
        abort(404)
    if not outcome.refused:
        article = "an" if changed.role == Role.ADVISER else "a"
        flash(f"{changed.name} ({changed.email}) is now {article} {changed.role.value}.", "success")
    return redirect(url_for("admin.index", _anchor="accounts"))
