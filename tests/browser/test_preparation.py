"""In the browser: prepare for a conversation, print the brief on one page, reflect after it,
and find the reflection in the export (issue 13, items 8 and 9)."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from outreach import meetings
from outreach.meetings import MeetingDetails, PreparationChange
from outreach.models import Contact, Meeting, Outreach, User
from outreach.rules.cycle import zone_of
from tests.browser.conftest import SCREENSHOTS, LiveApp
from tests.browser.live import log_in

pytestmark = pytest.mark.browser

OWN_QUESTION = "How did you move from marine science into policy work?"
RESEARCH_PERSON = (
    "Programme Lead at Ocean Trust since 2022; before that six years of fieldwork on "
    "seagrass restoration. Wrote the Trust's 2025 report on coastal funding and spoke "
    "on the alumni panel in March about careers outside the lab."
)
RESEARCH_ORGANISATION = (
    "Ocean Trust: a charity of about 40 people, funded by foundations and the lottery. "
    "Runs restoration projects with councils and a small policy team that answers "
    "government consultations. New five-year strategy published in October."
)


def shoot(page: Page, name: str) -> None:
    """The page at 1366x850 and at a phone's 390x844, for a person to look at."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for width, height in ((1366, 850), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=SCREENSHOTS / f"{name}-{width}.png", full_page=True)
        # Nothing runs off the side, on a phone either.
        assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.set_viewport_size({"width": 1366, "height": 850})


def pdf_pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", pdf))


def tomorrows_meeting_with_tom(live_app: LiveApp) -> tuple[int, datetime]:
    """Tom answered; a call is agreed for tomorrow at 15:00 London time, for 30 minutes."""
    tom_id = live_app.seeded.contacts["Tom Okafor"]
    with live_app.sessions() as session:
        tom = session.get_one(Contact, tom_id)
        tom.time_zone = "America/New_York"
        user = session.get_one(User, tom.user_id)
        user.time_zone = "Europe/London"
        outreach = session.query(Outreach).filter_by(contact_id=tom_id).one()
        tomorrow = datetime.now(UTC).astimezone(zone_of("Europe/London")).date() + timedelta(days=1)
        starts = meetings.local_to_utc(
            tomorrow, datetime.min.time().replace(hour=15), "Europe/London"
        )
        meeting = meetings.record_meeting(
            session,
            user,
            outreach.id,
            MeetingDetails(starts, 30, "Zoom: https://zoom.example/j/123 (code 4417)"),
            datetime.now(UTC),
        )
        session.commit()
        return meeting.id, starts


def question_ids(page: Page) -> list[str]:
    found = page.locator("#prepare-questions > li").evaluate_all(
        "items => items.map(item => item.dataset.questionId)"
    )
    return [str(question_id) for question_id in found]


def test_prepare_print_the_brief_then_reflect_and_export(page: Page, live_app: LiveApp) -> None:
    meeting_id, starts = tomorrows_meeting_with_tom(live_app)
    log_in(page, live_app.url, live_app.seeded.email)

    # The board's "today and tomorrow" card leads to the preparation.
    attention = page.locator('#attention [data-item="meeting"]')
    expect(attention).to_contain_text("Tomorrow at 15:00")
    attention.get_by_role("link", name="Prepare for it").click()
    expect(page.get_by_role("heading", name="Prepare: Tom Okafor")).to_be_visible()
    standard = [key for key, _ in meetings.QUESTIONS]
    assert question_ids(page) == standard
    expect(page.locator('[data-caution="entry_pay"]')).to_contain_text("not to raise pay")

    # Research, a purpose and a tick, saved together.
    page.get_by_label("What you want to learn from them").fill(
        "How a marine biologist moves into policy, and what to read first."
    )
    page.get_by_label("About the person").fill(RESEARCH_PERSON)
    page.get_by_label("About the organisation").fill(RESEARCH_ORGANISATION)
    page.get_by_label("Arrive, or join the call, 10 minutes early.").check()
    page.locator('[data-action="save-preparation"]').click()
    expect(page.get_by_text("Preparation saved.")).to_be_visible()
    expect(page.get_by_label("Arrive, or join the call, 10 minutes early.")).to_be_checked()
    expect(page.get_by_label("About the person")).to_have_value(RESEARCH_PERSON)

    # An own question, added with Enter, goes to the end; the arrows move it up, and a
    # tick made on the way is kept by the same press.
    page.get_by_label("Add your own question").fill(OWN_QUESTION)
    page.get_by_label("Add your own question").press("Enter")
    expect(page.locator("#prepare-questions > li").last).to_contain_text(OWN_QUESTION)
    own = question_ids(page)[-1]
    assert own.startswith("own-")
    page.get_by_label("Ask for the names of others you could talk to.").check()
    page.get_by_role("button", name=f"Move up: {OWN_QUESTION}").click()
    expect(page.locator("#prepare-questions > li").nth(8)).to_contain_text(OWN_QUESTION)
    page.get_by_role("button", name=f"Move up: {OWN_QUESTION}").click()
    expect(page.locator("#prepare-questions > li").nth(7)).to_contain_text(OWN_QUESTION)
    assert question_ids(page) == [*standard[:7], own, *standard[7:]]
    expect(page.get_by_label("Ask for the names of others you could talk to.")).to_be_checked()

    # Dragging by the handle does the same with a mouse: advice to the top.
    handle = page.locator("#q-advice .drag-handle")
    expect(handle).to_be_visible()
    # Tall enough that nothing scrolls mid-drag, which would move what is under the mouse.
    page.set_viewport_size({"width": 1366, "height": 1600})
    handle.drag_to(page.locator("#q-typical_day"), target_position={"x": 20, "y": 2})
    expect(page.locator("#prepare-questions > li").first).to_have_attribute(
        "data-question-id", "advice"
    )
    page.set_viewport_size({"width": 1366, "height": 850})
    # A removed question leaves, and can be put back.
    before = len(question_ids(page))
    page.get_by_role("button", name="Remove: What does an entry-level position pay?").click()
    # The form posts and the page comes back: read the list only once the new one is whole.
    expect(page.locator("#q-entry_pay")).to_have_count(0)
    expect(page.locator("#prepare-questions > li")).to_have_count(before - 1)
    page.wait_for_load_state("load")
    order = question_ids(page)
    assert "entry_pay" not in order
    with live_app.sessions() as session:
        stored = session.get_one(Meeting, meeting_id)
        assert stored.research_organisation == RESEARCH_ORGANISATION
        assert stored.checklist_json == '["early", "names"]'
    shoot(page, "preparation")

    # The printable brief: everything on one page, in the order chosen.
    page.locator('[data-action="print-brief"]').click()
    expect(page.get_by_role("heading", name="Conversation with Tom Okafor")).to_be_visible()
    brief = page.locator("main")
    expect(brief).to_contain_text("15:00 (Europe/London), 30 minutes")
    their = starts.astimezone(zone_of("America/New_York"))
    expect(brief).to_contain_text("Their time: ")
    expect(brief).to_contain_text(f"{their:%H:%M} (America/New_York)")
    expect(brief).to_contain_text("Zoom: https://zoom.example/j/123 (code 4417)")
    expect(brief).to_contain_text("Information and advice, not a job; 30 minutes, as asked.")
    expect(brief).to_contain_text("seagrass restoration")
    expect(brief).to_contain_text("five-year strategy")
    printed = page.locator(".brief-questions > li").evaluate_all(
        "items => items.map(item => item.dataset.questionId)"
    )
    assert printed == order
    expect(page.locator('.brief-checklist [data-ticked="yes"]')).to_have_count(2)
    shoot(page, "preparation-brief")
    page.emulate_media(media="print")
    page.screenshot(path=SCREENSHOTS / "preparation-brief-print.png", full_page=True)
    expect(page.locator(".screen-only")).to_be_hidden()
    for paper in ("A4", "Letter"):
        pdf = page.pdf(format=paper, print_background=True)
        (SCREENSHOTS / f"preparation-brief-{paper}.pdf").write_bytes(pdf)
        assert pdf_pages(pdf) == 1, f"the brief takes {pdf_pages(pdf)} pages of {paper}"
    page.emulate_media(media="screen")

    # After the call: it is held, and the notes take a reflection.
    with live_app.sessions() as session:
        meetings.run_due(session, starts + timedelta(minutes=31))
        session.commit()
    page.goto(f"/meetings/{meeting_id}")
    page.locator('[data-action="notes"]').click()
    page.get_by_label("Something specific from the conversation").fill(
        "your advice to answer a consultation for practice"
    )
    # The own question prepared is asked again here, for its answer.
    page.get_by_label(OWN_QUESTION).fill("Through a fellowship; apply early.")
    page.get_by_label("How would this work fit you").fill("A good fit: writing, evidence, people.")
    page.get_by_label("What went well?").fill("The questions on policy work led the talk.")
    page.get_by_label("What would you do better next time?").fill("Ask about training sooner.")
    page.get_by_label("Next steps").fill("Write to the Trust's policy team; read the strategy.")
    page.locator('[data-action="save-notes"]').click()
    expect(page.get_by_text("Notes saved.")).to_be_visible()
    expect(page.get_by_label("What went well?")).to_have_value(
        "The questions on policy work led the talk."
    )
    shoot(page, "notes-reflection")

    page.get_by_role("link", name="Printable page").click()
    expect(page.locator('[data-reflection="next_steps"]')).to_have_text(
        "Write to the Trust's policy team; read the strategy."
    )
    response = page.request.get("/meetings/export.csv")
    assert response.ok
    (row,) = csv.DictReader(io.StringIO(response.text().lstrip("\ufeff")))
    assert row["name"] == "Tom Okafor"
    assert row["reflection_fit"] == "A good fit: writing, evidence, people."
    assert row["reflection_do_better"] == "Ask about training sooner."
    assert row["own_questions"] == f"{OWN_QUESTION} Through a fellowship; apply early."


def test_a_full_brief_still_prints_on_one_page(page: Page, live_app: LiveApp) -> None:
    """Research of a long paragraph each and fifteen questions: still one sheet."""
    meeting_id, _ = tomorrows_meeting_with_tom(live_app)
    with live_app.sessions() as session:
        meeting = session.get_one(Meeting, meeting_id)
        user = session.get_one(User, meeting.user_id)
        for n in range(6):
            meetings.save_preparation(
                session,
                user,
                meeting_id,
                PreparationChange(
                    research_person=RESEARCH_PERSON * 4,
                    research_organisation=RESEARCH_ORGANISATION * 4,
                    purpose="How a marine biologist moves into policy, and what to read first.",
                    new_question=f"{n + 1}. {OWN_QUESTION} And what would you do again?",
                    ticked=frozenset({"early", "bring", "purpose"}),
                ),
            )
        session.commit()
    log_in(page, live_app.url, live_app.seeded.email)

    page.goto(f"/meetings/{meeting_id}/prepare/print")

    expect(page.locator(".brief-questions > li")).to_have_count(15)
    page.emulate_media(media="print")
    # About the printable width of A4 at 96 dpi, to see the sheet as the printer would.
    page.set_viewport_size({"width": 680, "height": 1000})
    page.screenshot(path=SCREENSHOTS / "preparation-brief-full-print.png", full_page=True)
    for paper in ("A4", "Letter"):
        pdf = page.pdf(format=paper)
        assert pdf_pages(pdf) == 1, f"the brief takes {pdf_pages(pdf)} pages of {paper}"
