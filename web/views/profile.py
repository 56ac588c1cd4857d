"""The user's profile: name, introduction and signature (every draft uses them), time zone
and holidays (the cycle's business days), drafts sent without review, and the monthly goal.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from outreach.accounts import update_profile
from outreach.drafts import auto_approved_kinds
from web.attempt import attempt
from web.auth import current_user
from web.db import get_session
from web.forms import ProfileForm

bp = Blueprint("profile", __name__)


def _page(form: ProfileForm) -> str:
    return render_template("profile/edit.html", form=form)


@bp.get("/profile")
def edit() -> ResponseReturnValue:
    user = current_user()
    form = ProfileForm(obj=user)
    form.auto_approve.data = [kind.value for kind in auto_approved_kinds(user)]
    return _page(form)


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
            auto_approve=form.chosen_kinds() if "auto_approve_shown" in sent else None,
            monthly_goal=form.monthly_goal.data,
        )
    if outcome.refused:
        return _page(form), 400
    flash("Your profile is saved. New drafts will use it.", "success")
    return redirect(url_for("profile.edit"))
