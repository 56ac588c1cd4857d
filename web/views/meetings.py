"""Meetings: record one, confirm an invitation, reschedule or cancel, notes, referrals, export.

Every route loads through a core getter that takes the signed-in user, so
another user's meeting is a 404 like a missing one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import Blueprint, Response, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session
from wtforms import SelectChoice

from outreach import meetings
from outreach.meetings import MeetingDetails, MeetingNotes, Referral, Reflection
from outreach.meetings.finding import PROPOSAL
from outreach.meetings.proposals import agree_to_meeting, reschedule
from outreach.models import Meeting, MessageStatus, User
from outreach.rules import local_time
from outreach.rules.cycle import zone_of
from outreach.rules.sandbox_addresses import is_sandbox
from outreach.target_actions import add_suggested_person
from web.attempt import attempt
from web.auth import current_user, is_signed_in
from web.db import get_session
from web.forms import ActionForm
from web.helpers import clip, now
from web.meeting_forms import MeetingForm, NotesForm, ReferralForm
from web.views.targets import drafted_sentence

bp = Blueprint("meetings", __name__)

# What the meeting's page says it is: an ended meeting is "held" even before the sweep.
SECTION_LABELS: dict[meetings.MeetingSection, str] = {
    meetings.MeetingSection.TO_CONFIRM: "to confirm",
    meetings.MeetingSection.COMING_UP: "scheduled",
    meetings.MeetingSection.HELD: "held",
    meetings.MeetingSection.CANCELLED: "cancelled",
}


def when_local(moment: datetime | None, time_zone: str) -> str:
    """ "Thu 3 Dec 2026, 14:00" in the user's zone."""
    if moment is None:
        return ""
    return local_time.weekday_date_and_time(moment, time_zone)


@bp.app_template_global()
def meeting_time(moment: datetime | None) -> str:
    """A meeting's moment on the signed-in user's clock (for any page showing one)."""
    return when_local(moment, current_user().time_zone if is_signed_in() else "UTC")


@bp.app_context_processor
def _attention() -> dict[str, object]:
    """The Meetings tab's count: invitations to confirm and overdue thank-yous."""
    if not is_signed_in():
        return {"meetings_attention": 0}
    # The board puts it in g from its figures; other pages count it here.
    known = g.get("meetings_attention")
    if known is None:
        known = g.meetings_attention = meetings.attention_count(
            get_session(), current_user(), now()
        )
    return {"meetings_attention": known}


@dataclass(frozen=True)
class ContactMeetings:
    meetings: list[Meeting]
    can_record: bool


@bp.app_template_global()
def contact_meetings(contact_id: int) -> ContactMeetings:
    """A contact's meetings, and whether one can be recorded now (the contact page's block).

    :raise 404: when the contact is not the user's.
    """
    session = get_session()
    user = current_user()
    return ContactMeetings(
        meetings=meetings.meetings_for_contact(session, user, contact_id),
        can_record=bool(meetings.meetable_outreaches(session, user, contact_id)),
    )


# --- the list, and recording ------------------------------------------------------------------


@bp.get("/meetings")
def index() -> ResponseReturnValue:
    session = get_session()
    user = current_user()
    moment = now()
    everything = meetings.list_meetings(session, user)
    overdue = {meeting.id for meeting in meetings.overdue_thank_yous(session, user, moment)}
    section = {m.id: meetings.section_of(m, moment) for m in everything}
    held = [m for m in everything if section[m.id] is meetings.MeetingSection.HELD]
    held.sort(key=lambda m: m.starts_at, reverse=True)
    return render_template(
        "meetings/index.html",
        proposed=[m for m in everything if section[m.id] is meetings.MeetingSection.TO_CONFIRM],
        upcoming=[m for m in everything if section[m.id] is meetings.MeetingSection.COMING_UP],
        held=held,
        cancelled=[m for m in everything if section[m.id] is meetings.MeetingSection.CANCELLED],
        overdue=overdue,
        action=ActionForm(),
        can_record=bool(meetings.meetable_outreaches(session, user)),
        time_zone=user.time_zone,
    )


def _meeting_form(user: User, contact_id: int | None = None) -> MeetingForm:
    form = MeetingForm()
    choices = meetings.meetable_outreaches(get_session(), user)
    form.outreach_id.choices = [
        SelectChoice(str(item.outreach_id), clip(f"{item.contact_name} ({item.target_name})"))
        for item in choices
    ]
    if contact_id is not None and not form.is_submitted():
        mine = [item for item in choices if item.contact_id == contact_id]
        if mine:
            form.outreach_id.data = mine[0].outreach_id
    return form


def _new_page(form: MeetingForm, user: User) -> str:
    return render_template("meetings/new.html", form=form, time_zone=user.time_zone)


@bp.get("/meetings/new")
def new() -> ResponseReturnValue:
    user = current_user()
    contact = request.args.get("contact", type=int)
    return _new_page(_meeting_form(user, contact), user)


def _details(form: MeetingForm, user: User) -> MeetingDetails:
    return MeetingDetails(
        starts_at=meetings.local_to_utc(form.day.data, form.start.data, user.time_zone),
        duration_minutes=form.duration_minutes.data,
        place=form.place.data or "",
    )


@bp.post("/meetings")
def record() -> ResponseReturnValue:
    """:raise 404: when the chosen outreach is not the user's."""
    session = get_session()
    user = current_user()
    form = _meeting_form(user)
    if not form.validate_on_submit():
        return _new_page(form, user), 400
    with attempt(session) as outcome:
        meeting = meetings.record_meeting(
            session, user, form.outreach_id.data, _details(form, user), now()
        )
    if outcome.refused:
        return _new_page(form, user), 400
    flash(
        f"Meeting with {meeting.contact.name} recorded for "
        f"{when_local(meeting.starts_at, user.time_zone)}. A confirmation note will be "
        "drafted the day before, for you to approve.",
        "success",
    )
    return redirect(url_for("meetings.detail", meeting_id=meeting.id))


# --- one meeting ------------------------------------------------------------------------------


def _edit_form(meeting: Meeting, user: User) -> MeetingForm:
    form = MeetingForm()
    form.outreach_id.choices = [SelectChoice(str(meeting.outreach_id), clip(meeting.contact.name))]
    if not form.is_submitted():
        here = meeting.starts_at.astimezone(zone_of(user.time_zone))
        form.outreach_id.data = meeting.outreach_id
        form.day.data = here.date()
        form.start.data = here.time().replace(tzinfo=None)
        form.duration_minutes.data = meeting.duration_minutes
        form.place.data = meeting.place
    return form


def _detail_page(meeting: Meeting, form: MeetingForm, user: User) -> str:
    session = get_session()
    return render_template(
        "meetings/detail.html",
        meeting=meeting,
        form=form,
        action=ActionForm(),
        status_label=SECTION_LABELS[meetings.section_of(meeting, now())],
        time_zone=user.time_zone,
        ends=meetings.ends_at(meeting),
        overdue=meeting.id in {m.id for m in meetings.overdue_thank_yous(session, user, now())},
        thanked=meetings.thank_you_sent(session, meeting),
    )


@bp.get("/meetings/<int:meeting_id>")
def detail(meeting_id: int) -> ResponseReturnValue:
    """:raise 404: when the meeting is not the user's."""
    user = current_user()
    meeting = meetings.get_meeting(get_session(), user, meeting_id)
    return _detail_page(meeting, _edit_form(meeting, user), user)


@bp.post("/meetings/<int:meeting_id>")
def update(meeting_id: int) -> ResponseReturnValue:
    """Reschedule, or change the length or place. :raise 404: when not the user's."""
    session = get_session()
    user = current_user()
    meeting = meetings.get_meeting(session, user, meeting_id)
    form = _edit_form(meeting, user)
    if not form.validate_on_submit():
        return _detail_page(meeting, form, user), 400
    with attempt(session) as outcome:
        changed = reschedule(session, user, meeting.id, _details(form, user), now())
    if outcome.refused:
        return _detail_page(meeting, form, user), 400
    said = f"Meeting saved: {when_local(meeting.starts_at, user.time_zone)}."
    if changed.confirmation is not None:
        said += " The updated calendar invitation waits in Drafts for your approval."
    flash(said, "success")
    return redirect(url_for("meetings.detail", meeting_id=meeting.id))


def _agree(session: Session, user: User, meeting_id: int, moment: datetime) -> Meeting:
    """Confirm an invitation, or mark a time the user proposed as agreed (then invite)."""
    return agree_to_meeting(session, user, meeting_id, moment).meeting


def _act(meeting_id: int, action: str) -> ResponseReturnValue:
    """Confirm, dismiss or cancel. :raise 404: when the meeting is not the user's."""
    session = get_session()
    user = current_user()
    if not ActionForm().validate_on_submit():
        flash("This form was out of date; please try again.", "error")
        return redirect(url_for("meetings.index"))
    step = {
        "confirm": _agree,
        "dismiss": meetings.dismiss_meeting,
        "cancel": meetings.cancel_meeting,
    }[action]
    with attempt(session) as outcome:
        meeting = step(session, user, meeting_id, now())
    if outcome.refused:
        return redirect(url_for("meetings.index"))
    name = meeting.contact.name
    invited = " The confirmation with a calendar invitation waits in Drafts for your approval."
    said = {
        "confirm": f"Meeting with {name} confirmed for "
        f"{when_local(meeting.starts_at, user.time_zone)}."
        + (invited if meeting.source == PROPOSAL else ""),
        "dismiss": f"The time you proposed to {name} is withdrawn."
        if meeting.source == PROPOSAL
        else f"The invitation from {name} was dismissed.",
        "cancel": f"The meeting with {name} is cancelled.",
    }[action]
    flash(said, "success" if action == "confirm" else "info")
    return redirect(url_for("meetings.index"))


@bp.post("/meetings/<int:meeting_id>/confirm")
def confirm(meeting_id: int) -> ResponseReturnValue:
    return _act(meeting_id, "confirm")


@bp.post("/meetings/<int:meeting_id>/dismiss")
def dismiss(meeting_id: int) -> ResponseReturnValue:
    return _act(meeting_id, "dismiss")


@bp.post("/meetings/<int:meeting_id>/cancel")
def cancel(meeting_id: int) -> ResponseReturnValue:
    return _act(meeting_id, "cancel")


# --- notes and referrals ----------------------------------------------------------------------


def _notes_form(meeting: Meeting) -> NotesForm:
    form = NotesForm()
    if not form.is_submitted():
        form.learned.data = meeting.learned
        form.specific_detail.data = meeting.specific_detail
        for key, answer in meetings.answers_of(meeting).items():
            getattr(form, f"answer_{key}").data = answer
        for part, _ in meetings.REFLECTION_PARTS:
            name = f"reflection_{part}"
            getattr(form, name).data = getattr(meeting, name)
    return form


def _notes_page(
    meeting_id: int, form: NotesForm | None = None, referral: ReferralForm | None = None
) -> str:
    session = get_session()
    user = current_user()
    interview = meetings.interview_record(session, user, meeting_id)
    form = form or _notes_form(interview.meeting)
    return render_template(
        "meetings/notes.html",
        interview=interview,
        meeting=interview.meeting,
        form=form,
        referral=referral or ReferralForm(formdata=None),
        questions=[
            (key, question, getattr(form, f"answer_{key}")) for key, question in meetings.QUESTIONS
        ],
        reflection=[getattr(form, f"reflection_{part}") for part, _ in meetings.REFLECTION_PARTS],
        # Own questions are per meeting, so not fields of the form class: after a refused
        # post they show what was typed.
        own=[
            (
                question,
                request.form.get(f"answer_{question.id}", answer)
                if form.is_submitted()
                else answer,
            )
            for question, answer in interview.own_answers
        ],
        thank_you=meetings.thank_you_of(session, interview.meeting),
        time_zone=user.time_zone,
        in_sandbox=is_sandbox(interview.contact.email),
    )


@bp.get("/meetings/<int:meeting_id>/notes")
def notes(meeting_id: int) -> ResponseReturnValue:
    """:raise 404: when the meeting is not the user's."""
    return _notes_page(meeting_id)


@bp.post("/meetings/<int:meeting_id>/notes")
def notes_submit(meeting_id: int) -> ResponseReturnValue:
    """:raise 404: when the meeting is not the user's."""
    session = get_session()
    user = current_user()
    meeting = meetings.get_meeting(session, user, meeting_id)
    form = NotesForm()
    if not form.validate_on_submit():
        return _notes_page(meeting.id, form), 400
    notes = MeetingNotes(
        learned=form.learned.data or "",
        specific_detail=form.specific_detail.data or "",
        answers={
            **{key: getattr(form, f"answer_{key}").data or "" for key in meetings.QUESTION_KEYS},
            **{
                question.id: request.form.get(f"answer_{question.id}", "")
                for question, _ in meetings.own_answers(meeting)
            },
        },
        reflection=Reflection(
            **{
                part: getattr(form, f"reflection_{part}").data or ""
                for part, _ in meetings.REFLECTION_PARTS
            }
        ),
    )
    with attempt(session) as outcome:
        meetings.save_notes(session, user, meeting.id, notes, now())
    if outcome.refused:
        return _notes_page(meeting.id, form), 400
    message = "Notes saved."
    thank_you = meetings.thank_you_of(session, meeting)
    if thank_you is not None and thank_you.status is MessageStatus.DRAFT and not thank_you.error:
        message += " Your thank-you is ready to review in Drafts."
    flash(message, "success")
    return redirect(url_for("meetings.notes", meeting_id=meeting.id))


@bp.post("/meetings/<int:meeting_id>/referrals")
def add_referral(meeting_id: int) -> ResponseReturnValue:
    """A name they suggested becomes a contact "referred by" them. :raise 404: if not the user's."""
    session = get_session()
    user = current_user()
    meeting = meetings.get_meeting(session, user, meeting_id)
    form = ReferralForm()
    if not form.validate_on_submit():
        return _notes_page(meeting.id, referral=form), 400
    with attempt(session) as outcome:
        result = add_suggested_person(
            session,
            user,
            meeting.id,
            Referral(
                name=form.name.data,
                email=form.email.data,
                role=form.role.data or "",
                organisation=form.organisation.data or "",
            ),
            now(),
            add_to_list=bool(form.add_to_list.data),
        )
    if outcome.refused:
        return _notes_page(meeting.id, referral=form), 400
    contact = result.contact
    said = "added to your contacts" if result.created else "was already on your contacts"
    listed = " and to the end of this target's list" if result.outreach is not None else ""
    pretend = (
        f" In the sandbox they are written to at {contact.email}."
        if is_sandbox(contact.email) and contact.email != (form.email.data or "").strip().lower()
        else ""
    )
    flash(f"{contact.name} {said}{listed}.{pretend}{drafted_sentence(result.drafted)}", "success")
    return redirect(url_for("meetings.notes", meeting_id=meeting.id, _anchor="referrals"))


# --- interview records ------------------------------------------------------------------------


@bp.get("/meetings/<int:meeting_id>/print")
def printable(meeting_id: int) -> ResponseReturnValue:
    """One interview on a page, for printing. :raise 404: when not the user's."""
    user = current_user()
    interview = meetings.interview_record(get_session(), user, meeting_id)
    return render_template(
        "meetings/print.html",
        interview=interview,
        meeting=interview.meeting,
        questions=meetings.QUESTIONS,
        reflection=[
            (heading, getattr(interview.meeting, f"reflection_{part}"), part)
            for part, heading in meetings.REFLECTION_PARTS
        ],
        time_zone=user.time_zone,
    )


@bp.get("/meetings/export.csv")
def export() -> ResponseReturnValue:
    """Every interview as CSV: who, role, organisation, date, answers, referrals."""
    session = get_session()
    user = current_user()
    text = meetings.export_csv(meetings.interview_records(session, user), user.time_zone)
    return Response(
        # A byte-order mark, so spreadsheets on Windows read the accents right.
        "\ufeff" + text,
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="interviews.csv"'},
    )
