"""The user's profile: name, introduction and signature (every draft uses them), time zone
and holidays (the cycle's business days), drafts sent without review, and the monthly goal;
the password, and signing out everywhere.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from outreach.accounts import change_password, end_sign_ins, update_profile
from outreach.drafts import auto_approved_kinds
from web.attempt import attempt
from web.auth import current_user, keep_signed_in, sign_out
from web.db import get_session
from web.forms import ActionForm, PasswordForm, ProfileForm
from web.limits import PASSWORD_CHANGE, throttled

bp = Blueprint("profile", __name__)
PASSWORD_PREFIX = "password"


def _profile_form() -> ProfileForm:
    user = current_user()
    form = ProfileForm(formdata=None, obj=user)
    form.auto_approve.data = [kind.value for kind in auto_approved_kinds(user)]
    return form


def _page(form: ProfileForm, password_form: PasswordForm | None = None) -> str:
    return render_template(
        "profile/edit.html",
        form=form,
        password_form=password_form or PasswordForm(formdata=None, prefix=PASSWORD_PREFIX),
        sign_out_form=ActionForm(formdata=None),
    )


@bp.get("/profile")
def edit() -> ResponseReturnValue:
    return _page(_profile_form())


@bp.post("/profile")
def save() -> ResponseReturnValue:
    form = ProfileForm()
    if not form.validate_on_submit():
        flash("Your profile was not saved: see the reasons by the fields.", "error")
        return _page(form), 400
    session = get_session()
    # A field absent from the form (an older page, a script) keeps its saved value.
    sent = request.form
    with attempt(session) as outcome:
        update_profile(
            session,
            current_user(),
            name=form.name.data,
            introduction=form.introduction.data or "",
            signature=form.signature.data or "",
            time_zone=form.time_zone.data or None,
            holidays=(form.holidays.data or "") if "holidays" in sent else None,
            free_times=(form.free_times.data or "") if "free_times" in sent else None,
            auto_approve=form.chosen_kinds() if "auto_approve_shown" in sent else None,
            monthly_goal=form.monthly_goal.data,
        )
    if outcome.refused:
        return _page(form), 400
    flash("Your profile is saved. New drafts will use it.", "success")
    return redirect(url_for("profile.edit"))


def _password_refused(message: str) -> ResponseReturnValue:
    flash(message, "error")
    return _page(_profile_form())


@bp.post("/profile/password")
@throttled(PASSWORD_CHANGE, refused=_password_refused)
def password() -> ResponseReturnValue:
    """Change the password; every other sign-in ends, this one goes on.

    A wrong current password counts toward the account's sign-in limit.
    """
    form = PasswordForm(prefix=PASSWORD_PREFIX)
    if not form.validate_on_submit():
        flash("Your password was not changed: see the reasons by the fields.", "error")
        return _page(_profile_form(), form), 400
    session = get_session()
    user = current_user()
    with attempt(session) as outcome:
        change_password(
            session,
            user,
            form.current_password.data,
            form.new_password.data,
            form.new_password_again.data,
        )
    if outcome.refused:
        return _page(_profile_form(), form), 400
    keep_signed_in(user)
    flash(
        "Your password is changed. Every other browser signed in to your account "
        "has been signed out; this one stays signed in.",
        "success",
    )
    return redirect(url_for("profile.edit"))


@bp.post("/profile/sign-out-everywhere")
def sign_out_everywhere() -> ResponseReturnValue:
    """End every sign-in to the account, this browser's too."""
    session = get_session()
    end_sign_ins(session, current_user())
    session.commit()
    sign_out()
    flash(
        "You are signed out everywhere: on every computer and phone, and here. "
        "Log in again to go on.",
        "info",
    )
    return redirect(url_for("auth.login"))
