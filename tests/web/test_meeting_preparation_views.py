"""The preparation page and its brief, the reflection in the notes; links from the meeting,
the board and the contact; and nobody else's meeting can be prepared or read."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from outreach import meetings
from outreach.meetings import MeetingDetails, PreparationChange
from outreach.models import Meeting, Outreach, User
from outreach.rules.cycle import zone_of
from tests.web.conftest import Browser
from tests.web.test_meetings_views import NOW, AlicesMeeting, alice, held_meeting, talk

__all__ = ["alice", "talk"]  # fixtures, used by name


def coming(session: Session, user: User, outreach: Outreach, hours: int = 20) -> Meeting:
    """A meeting `hours` from now, 45 minutes, on a call."""
    meeting = meetings.record_meeting(
        session,
        user,
        outreach.id,
        MeetingDetails(NOW + timedelta(hours=hours), 45, "Teams: https://teams.example/l/1"),
        NOW,
    )
    session.commit()
    return meeting


def prepare(signed_in: Browser, meeting: Meeting, **data: str | list[str]) -> str:
    """Submit the preparation page as it stands plus `data`; the page it leads to."""
    path = f"/meetings/{meeting.id}/prepare"
    form: dict[str, str | list[str]] = {
        "purpose": "",
        "research_person": "",
        "research_organisation": "",
        "new_question": "",
    }
    form.update(data)
    response = signed_in.post(path, form, page=path)
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.headers["Location"].startswith(path)
    return signed_in.page(response.headers["Location"])


def question_ids(page: str) -> list[str]:
    return re.findall(r'<li id="q-([\w-]+)" data-question-id', page)


def test_the_meeting_board_contact_and_meetings_pages_lead_to_the_preparation(
    signed_in: Browser, session: Session, user: User, talk: Outreach
) -> None:
    meeting = coming(session, user, talk)
    link = f'href="/meetings/{meeting.id}/prepare"'

    assert link in signed_in.page(f"/meetings/{meeting.id}")
    board = signed_in.page("/")
    assert re.search(rf'data-item="meeting">.*?{re.escape(link)}', board, re.S)
    assert link in signed_in.page(f"/contacts/{talk.contact_id}")
    assert link in signed_in.page("/meetings")


def test_the_page_shows_the_nine_questions_the_pay_caution_and_the_checklist(
    signed_in: Browser, session: Session, user: User, talk: Outreach
) -> None:
    meeting = coming(session, user, talk)

    page = signed_in.page(f"/meetings/{meeting.id}/prepare")

    assert "Prepare: Alex Lee" in page
    assert question_ids(page) == [key for key, _ in meetings.QUESTIONS]
    assert 'data-caution="entry_pay"' in page and "not to raise pay" in page
    assert page.count('name="ticked"') == 6
    assert "Arrive, or join the call, 10 minutes early." in page
    assert "the 45 minutes you asked for" in page
    assert "Teams: https://teams.example/l/1" in page
    # Without JavaScript the arrows are real buttons of the one form.
    assert 'name="do" value="up:advice"' in page and 'name="do" value="down:typical_day"' in page


def test_saving_research_ticks_an_own_question_and_moving_it_up(
    signed_in: Browser, session: Session, user: User, talk: Outreach
) -> None:
    meeting = coming(session, user, talk)

    page = prepare(
        signed_in,
        meeting,
        purpose="How a policy career starts",
        research_person="Led the <b>river</b> report.",
        research_organisation="A charity.",
        ticked=["early", "bring"],
        new_question="How did you move into policy?",
        do="add",
    )

    own = question_ids(page)[-1]
    assert own.startswith("own-")
    assert "How did you move into policy?" in page
    assert "Led the &lt;b&gt;river&lt;/b&gt; report." in page
    assert page.count("checked") == 2

    # Each move keeps what is typed and ticked, and comes back to the question.
    response = signed_in.post(
        f"/meetings/{meeting.id}/prepare",
        {
            "purpose": "How a policy career starts",
            "research_person": "Led the river report.",
            "research_organisation": "A charity.",
            "new_question": "",
            "ticked": ["early", "bring", "names"],
            "do": f"up:{own}",
        },
        page=f"/meetings/{meeting.id}/prepare",
    )
    assert response.headers["Location"].endswith(f"#q-{own}")
    page = signed_in.page(response.headers["Location"])
    assert question_ids(page)[-2:] == [own, "advice"]
    assert page.count("checked") == 3
    session.expire_all()
    assert session.get_one(Meeting, meeting.id).research_person == "Led the river report."


def test_remove_and_put_back_a_standard_question(
    signed_in: Browser, session: Session, user: User, talk: Outreach
) -> None:
    meeting = coming(session, user, talk)

    page = prepare(signed_in, meeting, do="remove:entry_pay")
    assert "entry_pay" not in question_ids(page)
    assert 'value="restore:entry_pay"' in page

    page = prepare(signed_in, meeting, do="restore:entry_pay")
    assert question_ids(page)[-1] == "entry_pay"


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        ("research_person", "x" * 4_001, "Keep it to 4,000 characters: the brief is one page."),
        ("new_question", "What\x00now?", "contains a NUL (U+0000)"),
        ("purpose", "one\rtwo", "contains a carriage return"),
    ],
)
def test_text_too_long_or_with_control_characters_is_refused_and_kept_on_the_page(
    signed_in: Browser, session: Session, user: User, talk: Outreach, field: str, value: str,
    said: str,
) -> None:  # fmt: skip
    meeting = coming(session, user, talk)
    path = f"/meetings/{meeting.id}/prepare"

    response = signed_in.post(path, {field: value, "research_organisation": "Kept"}, page=path)

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert said in page and "Kept</textarea>" in page
    session.expire_all()
    assert session.get_one(Meeting, meeting.id).research_organisation == ""


def test_the_printable_brief_has_everything_in_order(
    signed_in: Browser, session: Session, user: User, talk: Outreach
) -> None:
    contact = session.get_one(Outreach, talk.id).contact
    contact.time_zone = "Europe/London"
    meeting = coming(session, user, talk)
    meetings.save_preparation(
        session,
        user,
        meeting.id,
        PreparationChange(
            purpose="Why policy.",
            research_person="Wrote the report.",
            research_organisation="Forty people.",
            ticked=frozenset({"keep_in_touch"}),
            new_question="Which journal do you read?",
        ),
    )
    session.commit()

    page = signed_in.page(f"/meetings/{meeting.id}/prepare/print")

    assert "Conversation with Alex Lee" in page
    local = meeting.starts_at.astimezone(zone_of(user.time_zone))
    assert f"{local:%H:%M} (America/New_York), 45 minutes" in page
    assert "Their time:" in page and "(Europe/London)" in page
    assert "Teams: https://teams.example/l/1" in page
    assert "Why policy. Information and advice, not a job; 45 minutes, as asked." in page
    assert "Wrote the report." in page and "Forty people." in page
    questions = re.findall(r'<li data-question-id="([\w-]+)">', page)
    assert questions[:9] == [key for key, _ in meetings.QUESTIONS]
    assert len(questions) == 10
    assert "Which journal do you read?" in page
    assert "(Some advisers say not to raise pay.)" in page
    assert page.count('data-ticked="yes"') == 1 and page.count('data-ticked="no"') == 5
    assert "meetings.css" in page


def test_the_reflection_is_saved_with_the_notes_printed_and_exported(
    signed_in: Browser, session: Session, user: User, talk: Outreach
) -> None:
    meeting = held_meeting(session, user, talk)
    page = signed_in.page(f"/meetings/{meeting.id}/notes")
    assert "What went well?" in page and "Next steps" in page

    response = signed_in.post(
        f"/meetings/{meeting.id}/notes",
        {
            "specific_detail": "the tour",
            "learned": "Plenty.",
            "reflection_fit": "A good fit.",
            "reflection_went_well": "<i>Easy</i> talk.",
            "reflection_do_better": "Ask sooner.",
            "reflection_next_steps": "Write to Rosa.",
        },
        page=f"/meetings/{meeting.id}/notes",
    )

    assert response.status_code == 302
    page = signed_in.page(response.headers["Location"])
    assert "A good fit.</textarea>" in page and "&lt;i&gt;Easy&lt;/i&gt; talk." in page
    printed = signed_in.page(f"/meetings/{meeting.id}/print")
    assert 'data-reflection="next_steps">Write to Rosa.' in printed
    assert 'data-reflection="went_well">&lt;i&gt;Easy&lt;/i&gt; talk.' in printed
    export = signed_in.get("/meetings/export.csv").get_data(as_text=True).lstrip("\ufeff")
    (row,) = csv.DictReader(io.StringIO(export))
    assert (row["reflection_fit"], row["reflection_do_better"]) == ("A good fit.", "Ask sooner.")


def test_a_reflection_with_a_control_character_is_refused(
    signed_in: Browser, session: Session, user: User, talk: Outreach
) -> None:
    meeting = held_meeting(session, user, talk)

    response = signed_in.post(
        f"/meetings/{meeting.id}/notes",
        {"reflection_fit": "bad\x1b[0m"},
        page=f"/meetings/{meeting.id}/notes",
    )

    assert response.status_code == 400
    assert "contains an escape (U+001B)" in response.get_data(as_text=True)
    session.expire_all()
    assert session.get_one(Meeting, meeting.id).reflection_fit == ""


# --- nobody else's meeting ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/meetings/{meeting_id}/prepare", "/meetings/{meeting_id}/prepare/print"]
)
def test_another_users_preparation_is_not_found(
    signed_in: Browser, session: Session, alice: AlicesMeeting, path: str
) -> None:
    meetings.save_preparation(
        session,
        alice.user,
        alice.meeting_id,
        PreparationChange(research_person="Alice's secret research"),
    )
    session.commit()

    response = signed_in.get(path.format(**vars(alice)))

    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "Carol Contact" not in page and "secret research" not in page


@pytest.mark.parametrize(
    "data",
    [
        {"research_person": "Hijacked"},
        {"do": "remove:typical_day"},
        {"new_question": "Hijacked?", "do": "add"},
        {"ticked": "early"},
    ],
)
def test_another_users_preparation_cannot_be_changed(
    signed_in: Browser, session: Session, alice: AlicesMeeting, data: dict[str, str]
) -> None:
    response = signed_in.post(f"/meetings/{alice.meeting_id}/prepare", data, page="/meetings")

    assert response.status_code == 404
    session.expire_all()
    meeting = session.get_one(Meeting, alice.meeting_id)
    assert (meeting.research_person, meeting.questions_json, meeting.checklist_json) == (
        "",
        None,
        "[]",
    )


def test_another_users_reflection_cannot_be_written(
    signed_in: Browser, session: Session, alice: AlicesMeeting
) -> None:
    response = signed_in.post(
        f"/meetings/{alice.meeting_id}/notes", {"reflection_fit": "Hijacked"}, page="/meetings"
    )

    assert response.status_code == 404
    session.expire_all()
    assert session.get_one(Meeting, alice.meeting_id).reflection_fit == ""


def test_a_preparation_post_without_a_token_changes_nothing(
    signed_in: Browser, session: Session, user: User, talk: Outreach
) -> None:
    meeting = coming(session, user, talk)

    response = signed_in.client.post(
        f"/meetings/{meeting.id}/prepare", data={"research_person": "Forged"}
    )

    assert response.status_code == 400
    session.expire_all()
    assert session.get_one(Meeting, meeting.id).research_person == ""


def test_own_questions_are_answered_in_the_notes_and_printed(
    signed_in: Browser, session: Session, user: User, talk: Outreach
) -> None:
    meeting = held_meeting(session, user, talk)
    meetings.save_preparation(
        session, user, meeting.id, PreparationChange(new_question="Which journal do you read?")
    )
    session.commit()
    ((question, _),) = meetings.own_answers(meeting)
    path = f"/meetings/{meeting.id}/notes"
    assert f'name="answer_{question.id}"' in signed_in.page(path)

    refused = signed_in.post(path, {f"answer_{question.id}": "Nature\x00"}, page=path)
    assert refused.status_code == 400
    assert "contains a NUL (U+0000)" in refused.get_data(as_text=True)

    response = signed_in.post(path, {f"answer_{question.id}": "Nature, weekly."}, page=path)
    assert response.status_code == 302
    assert "Nature, weekly.</textarea>" in signed_in.page(path)
    printed = signed_in.page(f"/meetings/{meeting.id}/print")
    assert "Which journal do you read?" in printed
    assert f'data-question="{question.id}">Nature, weekly.' in printed
