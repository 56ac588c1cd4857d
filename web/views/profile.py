"""The user's name, 30-second introduction and signature (used by every draft), and time zone."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from outreach.accounts import update_profile
from outreach.errors import ValidationError
from web.auth import current_user
from web.db import get_session
from web.forms import ProfileForm
from web.helpers import sentence

bp = Blueprint("profile", __name__)


@bp.get("/profile")
def edit() -> ResponseReturnValue:
    return render_template("profile/edit.html", form=ProfileForm(obj=current_user()))


@bp.post("/profile")
def save() -> ResponseReturnValue:
    form = ProfileForm()
    if not form.validate_on_submit():
        return render_template("profile/edit.html", form=form), 400
    session = get_session()
    try:
        update_profile(
            session,
            current_user(),
            name=form.name.data,
            introduction=form.introduction.data or "",
            signature=form.signature.data or "",
            # Absent (an older form, a script): the time zone stays as it is.
            time_zone=form.time_zone.data or None,
        )
    except ValidationError as error:
        session.rollback()
        flash(sentence(error), "error")
        return render_template("profile/edit.html", form=form), 400
    session.commit()
    flash("Your profile is saved. New drafts will use it.", "success")
    return redirect(url_for("profile.edit"))
