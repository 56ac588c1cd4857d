"""The list of people: add one, import many, and each person's timeline."""

from __future__ import annotations

import hashlib
from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask import (
    session as cookie,
)
from flask.typing import ResponseReturnValue
from wtforms import SelectChoice

from outreach import contact_import as core
from outreach.board import status_board, timeline
from outreach.contact_changes import bounced_addresses
from outreach.contact_import import IMPORT_FIELDS, CsvTable
from outreach.contacts import ContactInput, add_contact, get_contact, list_contacts
from outreach.corrections import VERDICT_WORDS, Verdict, correct, verdicts_of
from outreach.drafts import get_message, template_uses
from outreach.errors import ValidationError
from outreach.models import Contact, MessageKind
from outreach.reading.vcard import looks_like_vcard
from web.attempt import attempt
from web.auth import current_user
from web.db import get_session
from web.forms import ContactForm
from web.helpers import clip, now, sentence
from web.import_forms import ColumnsForm, ImportActionForm, ImportConfirmForm, UploadForm
from web.import_jobs import ImportJob, ImportJobs
from web.progress import request_progress, with_outbox_detail
from web.state import services

bp = Blueprint("contacts", __name__)


def _contact_form(contacts: list[Contact]) -> ContactForm:
    form = ContactForm()
    form.referred_by.choices = [SelectChoice("", "Nobody")] + [
        SelectChoice(str(contact.id), clip(contact.name)) for contact in contacts
    ]
    return form


def _render_index(form: ContactForm, contacts: list[Contact]) -> str:
    return render_template("contacts/index.html", form=form, contacts=contacts)


@bp.get("/contacts")
def index() -> ResponseReturnValue:
    contacts = list_contacts(get_session(), current_user())
    return _render_index(_contact_form(contacts), contacts)


@bp.post("/contacts")
def add() -> ResponseReturnValue:
    session = get_session()
    user = current_user()
    contacts = list_contacts(session, user)
    form = _contact_form(contacts)
    if not form.validate_on_submit():
        return _render_index(form, contacts), 400
    with attempt(session) as outcome:
        contact = add_contact(
            session,
            user,
            ContactInput(
                email=form.email.data,
                name=form.name.data,
                first_name=form.first_name.data or "",
                role=form.role.data or "",
                organisation=form.organisation.data or "",
                how_found=form.how_found.data or "",
                why_you=form.why_you.data or "",
                notes=form.notes.data or "",
                time_zone=form.time_zone.data or "",
                do_not_contact=bool(form.do_not_contact.data),
                referred_by_id=form.referred_by.data,
            ),
        )
    if outcome.refused:
        return _render_index(form, contacts), 400
    flash(f"{contact.name} is on your list.", "success")
    return redirect(url_for("contacts.index"))


@bp.get("/contacts/<int:contact_id>")
def detail(contact_id: int) -> ResponseReturnValue:
    """One person: their details, where they stand in each target, and their timeline.

    :raise 404: when the contact is not the user's.
    """
    session = get_session()
    user = current_user()
    contact = get_contact(session, user, contact_id)
    entries = timeline(session, user, contact.id)
    # A message is shown once, at the last event about it (its text is the current one).
    last_mention = {entry.message.id: index for index, entry in enumerate(entries) if entry.message}
    shown = [
        (entry, entry.message is not None and last_mention[entry.message.id] == index)
        for index, entry in enumerate(entries)
    ]
    standing, _ = with_outbox_detail(
        status_board(
            session,
            user,
            now(),
            contact_id=contact.id,
            sandbox_day_seconds=services().settings.sandbox_day_seconds,
        ),
        request_progress(session, user),
    )
    # What each received message reads as: "" for a possible reply awaiting the user.
    read_as = verdicts_of(
        session, [entry.message for entry, shown_here in shown if shown_here and entry.message]
    )
    verdicts = {
        message_id: verdict.value if verdict is not None else ""
        for message_id, verdict in read_as.items()
    }
    return render_template(
        "contacts/detail.html",
        contact=contact,
        entries=shown,
        standing=standing,
        verdicts=verdicts,
        verdict_words=VERDICT_WORDS,
        match_words=MATCH_WORDS,
        bounced=bounced_addresses(session, contact),
    )


# How each matching rule reads on the timeline (outreach.reading.matching's rule names).
MATCH_WORDS = {
    "thread": "it answers the thread of a message you sent",
    "gmail_thread": "it is in the Gmail thread of a message you sent",
    "sender": "it comes from their address",
    "recipient": "you wrote it to their address",
    "bounce_body": "the failure report quotes a message you sent",
    "domain": "only its sender's domain matches theirs: a possible reply",
    "domain, confirmed by you": "its sender's domain matches theirs, and you confirmed it",
    "domain, dismissed by you": "its sender's domain matches theirs; you said it is unrelated",
}


@bp.post("/contacts/<int:contact_id>/messages/<int:message_id>/correction")
def correct_message(contact_id: int, message_id: int) -> ResponseReturnValue:
    """Say what a received message really is; the cycle follows as if it had been read so.

    :raise 404: when the contact or the message is not the user's, or they do not belong together.
    """
    session = get_session()
    user = current_user()
    contact = get_contact(session, user, contact_id)
    message = get_message(session, user, message_id)
    if message.contact_id != contact.id:
        abort(404)
    try:
        verdict = Verdict(request.form.get("verdict", ""))
    except ValueError:
        flash("Choose what the message is.", "error")
        return redirect(url_for("contacts.detail", contact_id=contact.id))
    with attempt(session) as outcome:
        correct(session, user, message.id, verdict, now())
    if outcome.refused:
        return redirect(url_for("contacts.detail", contact_id=contact.id))
    flash(f"Noted: that message is {VERDICT_WORDS[verdict]}.", "success")
    return redirect(url_for("contacts.detail", contact_id=contact.id) + f"#message-{message.id}")


# --- import: upload, columns, check, store in slices, result ----------------------------------

# Rows stored per request while the page shows progress: small enough for a
# quick answer on SQLite or PostgreSQL, large enough that 5,000 rows take 20.
SLICE = 250
# Problem rows listed on a page; the rest are counted.
LISTED_PROBLEMS = 500
# Values shown for each column on the mapping page.
EXAMPLES = 3
# Mappings remembered per browser, by the header they were made for.
REMEMBERED_MAPPINGS = 5


def _jobs() -> ImportJobs:
    return ImportJobs(services().settings.instance_dir / "imports")


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Spreadsheets on Windows save CSV in their own code page.
        return data.decode("cp1252", errors="replace")


def _table(job: ImportJob) -> CsvTable:
    return core.read_csv(job.text, has_header=job.has_header)


def _mapping_key(table: CsvTable) -> str:
    return hashlib.sha256(table.signature().encode()).hexdigest()[:16]


def _remembered(table: CsvTable) -> list[str] | None:
    """The mapping this browser chose last time for a file with the same header."""
    stored = cookie.get("import_columns", {}).get(_mapping_key(table))
    if not isinstance(stored, str):
        return None
    columns = stored.split(",")
    if len(columns) != table.width or any(name and name not in IMPORT_FIELDS for name in columns):
        return None
    return columns


def _remember(table: CsvTable, columns: list[str]) -> None:
    """Kept in the session cookie (signed, so not forged), as one short string per header."""
    remembered = dict(cookie.get("import_columns", {}))
    key = _mapping_key(table)
    remembered.pop(key, None)
    remembered[key] = ",".join(columns)
    # Oldest first (dicts keep order): the cookie stays small.
    cookie["import_columns"] = dict(list(remembered.items())[-REMEMBERED_MAPPINGS:])


def _guess(table: CsvTable) -> list[str]:
    guessed = core.guess_columns(table.header)
    return guessed + [""] * (table.width - len(guessed))


def _candidates(job: ImportJob) -> tuple[list[core.Candidate], list[core.RowProblem]]:
    """What the file holds, read with the job's columns: candidates, and remarks on merged rows.

    :raise ValidationError: when the file or the mapping cannot be used.
    """
    if job.kind == "vcard":
        candidates, _ = core.vcard_candidates(job.text)
    else:
        candidates = core.csv_candidates(_table(job), job.columns)
    return core.merge_duplicates(candidates)


def _load(token: str) -> ImportJob:
    return _jobs().load(current_user().id, token)


@bp.get("/contacts/import")
def import_form() -> ResponseReturnValue:
    return render_template("contacts/import.html", form=UploadForm())


@bp.post("/contacts/import")
def import_submit() -> ResponseReturnValue:
    """Read the upload; nothing is stored yet. A vCard goes to the check, a CSV to its columns."""
    form = UploadForm()
    if not form.validate_on_submit():
        return render_template("contacts/import.html", form=form), 400
    upload = form.file.data
    filename = str(upload.filename or "")
    text = _decode(upload.read())
    user = current_user()
    if filename.lower().endswith((".vcf", ".vcard")) or looks_like_vcard(text):
        try:
            candidates, problems = core.vcard_candidates(text)
        except ValidationError as error:
            form.file.errors = [sentence(error)]
            return render_template("contacts/import.html", form=form), 400
        if not candidates and not problems:
            form.file.errors = ["The file holds no cards."]
            return render_template("contacts/import.html", form=form), 400
        job = _jobs().create(user.id, "vcard", filename, text)
        job.read_problems = problems
        _jobs().save(job)
        return redirect(url_for("contacts.import_check", token=job.token), 303)
    try:
        table = core.read_csv(text)
    except ValidationError as error:
        form.file.errors = [sentence(error)]
        return render_template("contacts/import.html", form=form), 400
    job = _jobs().create(user.id, "csv", filename, text)
    job.has_header = table.has_header
    remembered = _remembered(table)
    job.columns = remembered or _guess(table)
    _jobs().save(job)
    if remembered is None and "email" not in job.columns:
        # Nothing we recognise: the person says which column is which first.
        return redirect(url_for("contacts.import_columns", token=job.token), 303)
    return redirect(url_for("contacts.import_check", token=job.token), 303)


def _render_columns(
    job: ImportJob, form: ColumnsForm, error: str | None = None, status: int = 200
) -> ResponseReturnValue:
    table = _table(job)
    names = table.column_names()
    examples = [
        [cells[index].strip() for _, cells in table.rows[:EXAMPLES] if index < len(cells)]
        for index in range(len(names))
    ]
    columns = job.columns + [""] * (len(names) - len(job.columns))
    return (
        render_template(
            "contacts/import_columns.html",
            job=job,
            form=form,
            columns=list(zip(names, examples, columns, strict=True)),
            fields=IMPORT_FIELDS,
            rows=table.rows[: core.PREVIEW_ROWS],
            width=table.width,
            error=error,
        ),
        status,
    )


@bp.get("/contacts/import/<token>/columns")
def import_columns(token: str) -> ResponseReturnValue:
    """Which column fills which field, with the file's first rows to go by."""
    job = _load(token)
    if job.kind != "csv" or job.candidates is not None:
        return redirect(url_for("contacts.import_check", token=token))
    form = ColumnsForm(formdata=None, has_header=job.has_header)
    return _render_columns(job, form)


@bp.post("/contacts/import/<token>/columns")
def import_columns_submit(token: str) -> ResponseReturnValue:
    job = _load(token)
    if job.kind != "csv" or job.candidates is not None:
        return redirect(url_for("contacts.import_check", token=token))
    form = ColumnsForm()
    if not form.validate_on_submit():
        return _render_columns(job, form, status=400)
    has_header = bool(form.has_header.data)
    if has_header != job.has_header:
        # The column names change with it: show the page again with the new ones.
        job.has_header = has_header
        table = _table(job)
        job.columns = _remembered(table) or _guess(table)
        _jobs().save(job)
        return redirect(url_for("contacts.import_columns", token=token), 303)
    table = _table(job)
    chosen = [request.form.get(f"column-{index}", "") for index in range(table.width)]
    job.columns = [name if name in IMPORT_FIELDS else "" for name in chosen]
    try:
        core.csv_candidates(table, job.columns)
    except ValidationError as error:
        return _render_columns(job, form, sentence(error), 400)
    _jobs().save(job)
    _remember(table, job.columns)
    return redirect(url_for("contacts.import_check", token=token), 303)


def _listed(problems: list[core.RowProblem]) -> list[core.RowProblem]:
    return sorted(problems, key=lambda problem: problem.number)[:LISTED_PROBLEMS]


@bp.get("/contacts/import/<token>")
def import_check(token: str) -> ResponseReturnValue:
    """Before: what the import would do, row by row. After: what it did."""
    job = _load(token)
    session = get_session()
    user = current_user()
    if job.finished:
        return _render_result(job)
    if job.candidates is not None:
        # Confirmed but not finished (the page was left mid-way): carry on from there.
        return render_template("contacts/import_check.html", **_check_context(job))
    try:
        candidates, merged = _candidates(job)
    except ValidationError as error:
        flash(sentence(error), "error")
        return redirect(url_for("contacts.import_columns", token=token))
    report = core.check_import(session, user, candidates)
    problems = [*job.read_problems, *report.errors]
    table = _table(job) if job.kind == "csv" else None
    mapping: list[tuple[str, str]] = []
    if table is not None:
        mapping = [
            (name, IMPORT_FIELDS[field_name] if field_name else "")
            for name, field_name in zip(table.column_names(), job.columns, strict=False)
        ]
    context = _check_context(job)
    context.update(
        report=report,
        problems=_listed(problems),
        problem_count=len(problems),
        warnings=_listed([*merged, *report.warnings]),
        warning_count=len(merged) + len(report.warnings),
        preview=core.preview_contacts(candidates, core.PREVIEW_ROWS),
        mapping=mapping,
        # Asked once here, so the drafts are not each missing it afterwards.
        lacking_how_found=core.lacking(candidates, "how_found")
        if template_uses(session, user, MessageKind.REQUEST, "how_found")
        else 0,
    )
    return render_template("contacts/import_check.html", **context)


def _check_context(job: ImportJob) -> dict[str, Any]:
    return {
        "job": job,
        "form": ImportConfirmForm(),
        "lacking_how_found": 0,
        "report": None,
        "problems": [],
        "problem_count": 0,
        "warnings": [],
        "warning_count": 0,
        "preview": [],
        "mapping": [],
    }


def _step(job: ImportJob, how_found: str = "") -> ImportJob:
    """Store the job's next slice (freezing what it stores on the first call); commit.

    `how_found`, when given, fills every row of the file that lacks it.
    """
    session = get_session()
    user = current_user()
    if job.finished:
        return job
    if job.candidates is None:
        candidates, merged = _candidates(job)
        if how_found:
            candidates = core.fill_blank(candidates, "how_found", how_found)
        job.candidates = candidates
        job.report.errors.extend(job.read_problems)
        job.report.warnings.extend(merged)
    assert job.candidates is not None
    stop = min(job.position + SLICE, len(job.candidates))
    job.report.add(core.import_candidates(session, user, job.candidates[job.position : stop]))
    job.position = stop
    if stop >= len(job.candidates):
        job.report.warnings.extend(core.link_referrals(session, user, job.candidates))
        job.report.errors.sort(key=lambda problem: problem.number)
        job.report.warnings.sort(key=lambda problem: problem.number)
        job.finished = True
    session.commit()
    _jobs().save(job)
    return job


def _answer(form: ImportConfirmForm) -> str:
    return " ".join(str(form.how_found.data or "").split())


@bp.post("/contacts/import/<token>/step")
def import_step(token: str) -> ResponseReturnValue:
    """One slice, for the page's script: JSON saying how far the import got."""
    form = ImportConfirmForm()
    if not form.validate_on_submit():
        problems = form.how_found.errors or ["This form was out of date; reload the page."]
        return jsonify(error=str(problems[0])), 400
    try:
        with _jobs().locked(current_user().id, token) as job:
            job = _step(job, _answer(form))
    except ValidationError as error:
        return jsonify(error=sentence(error)), 400
    return jsonify(
        done=job.position,
        total=job.total,
        finished=job.finished,
        result=url_for("contacts.import_check", token=token),
    )


@bp.post("/contacts/import/<token>/run")
def import_run(token: str) -> ResponseReturnValue:
    """Without scripts: every slice in this one request, then the result."""
    form = ImportConfirmForm()
    if not form.validate_on_submit():
        for problem in form.how_found.errors:
            flash(str(problem), "error")
        return redirect(url_for("contacts.import_check", token=token))
    with _jobs().locked(current_user().id, token) as job:
        answer = _answer(form)
        while not job.finished:
            job = _step(job, answer)
    return redirect(url_for("contacts.import_check", token=token), 303)


@bp.post("/contacts/import/<token>/cancel")
def import_cancel(token: str) -> ResponseReturnValue:
    form = ImportActionForm()
    job = _load(token)
    if form.validate_on_submit() and job.candidates is None:
        _jobs().delete(job)
        flash("The import was cancelled; nothing was stored.", "info")
    return redirect(url_for("contacts.import_form"), 303)


def _render_result(job: ImportJob) -> ResponseReturnValue:
    report = job.report
    return render_template(
        "contacts/import_done.html",
        job=job,
        report=report,
        problems=_listed(report.errors),
        problem_count=len(report.errors),
        warnings=_listed(report.warnings),
        warning_count=len(report.warnings),
    )
