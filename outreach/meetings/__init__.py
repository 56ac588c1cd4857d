"""Meetings and what follows them: confirmation, notes, referrals, thank-you, keep in touch.

A meeting is recorded by the user, or read from a calendar invitation in a reply
(then it waits, PROPOSED, for the user to confirm it). One module per idea:

- times: meeting times between the user's wall clock and UTC, in words;
- finding: finding meetings, the thank-you on record, the timeline note;
- scheduling: record, reschedule, cancel, confirm or dismiss (moves the outreach);
- invitations: calendar invitations in replies become proposed meetings;
- letters: the confirmation, thank-you and keep-in-touch drafts, from templates;
- questions: the standard questions, and a meeting's own list of them;
- notes: the user's notes, the standard questions, the reflection, the people suggested;
- preparation: research, the questions to ask in order, the guides' checklist;
- due_steps: the time-based steps the scheduler takes (confirmation the day
  before, held -> thank-you, keep in touch);
- records: interview records, printable and as CSV.

The core imports from those modules directly. The names below are the package's
public surface for the dashboard and the CLI; no submodule imports this package,
so it adds no import cycle.
"""

from outreach.meetings.due_steps import THANK_YOU_WITHIN, confirmation_due_at, run_due
from outreach.meetings.finding import (
    MeetableOutreach,
    attention_count,
    get_meeting,
    list_meetings,
    meetable_outreaches,
    meetings_for_contact,
    overdue_thank_yous,
    thank_you_of,
    thank_you_sent,
)
from outreach.meetings.invitations import read_invitation
from outreach.meetings.letters import draft_thank_you
from outreach.meetings.notes import (
    REFLECTION_PARTS,
    MeetingNotes,
    Referral,
    ReferralResult,
    Reflection,
    add_referral,
    answers_of,
    own_answers,
    referrals_of,
    reflection_of,
    save_notes,
)
from outreach.meetings.preparation import (
    Preparation,
    PreparationChange,
    Step,
    preparation_of,
    save_preparation,
    their_time,
)
from outreach.meetings.questions import QUESTION_KEYS, QUESTIONS, Question, questions_of
from outreach.meetings.records import (
    CSV_COLUMNS,
    InterviewRecord,
    export_csv,
    interview_record,
    interview_records,
)
from outreach.meetings.scheduling import (
    MAX_DURATION_MINUTES,
    MeetingDetails,
    cancel_meeting,
    confirm_meeting,
    dismiss_meeting,
    record_meeting,
    update_meeting,
)
from outreach.meetings.times import (
    MeetingSection,
    ends_at,
    is_over,
    local_to_utc,
    section_of,
    when_in_words,
)

__all__ = [
    "CSV_COLUMNS",
    "MAX_DURATION_MINUTES",
    "QUESTIONS",
    "QUESTION_KEYS",
    "REFLECTION_PARTS",
    "THANK_YOU_WITHIN",
    "InterviewRecord",
    "MeetableOutreach",
    "MeetingDetails",
    "MeetingNotes",
    "MeetingSection",
    "Preparation",
    "PreparationChange",
    "Referral",
    "ReferralResult",
    "Question",
    "Reflection",
    "Step",
    "add_referral",
    "answers_of",
    "attention_count",
    "cancel_meeting",
    "confirm_meeting",
    "confirmation_due_at",
    "dismiss_meeting",
    "draft_thank_you",
    "ends_at",
    "export_csv",
    "get_meeting",
    "interview_record",
    "interview_records",
    "is_over",
    "list_meetings",
    "local_to_utc",
    "meetable_outreaches",
    "meetings_for_contact",
    "overdue_thank_yous",
    "own_answers",
    "preparation_of",
    "questions_of",
    "read_invitation",
    "record_meeting",
    "referrals_of",
    "reflection_of",
    "run_due",
    "save_notes",
    "section_of",
    "save_preparation",
    "thank_you_of",
    "thank_you_sent",
    "their_time",
    "update_meeting",
    "when_in_words",
]
