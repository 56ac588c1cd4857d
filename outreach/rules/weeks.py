"""Weeks for the charts: Monday to Sunday in a person's time zone, the current one last.

Pure dates and arithmetic, shared by the student's board (outreach.progress_stats) and an
adviser's cohort chart (outreach.cohort_figures), so both cut weeks the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from outreach.rules.cycle import zone_of


def local_midnight(day: date, time_zone: str) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone_of(time_zone))


def percent(part: int, whole: int) -> int | None:
    """`part` as a whole percent of `whole`; None when there is no whole to compare with."""
    return round(100 * part / whole) if whole else None


@dataclass(frozen=True)
class WeekWindow:
    """`count` weeks ending with the one holding `now`, in `time_zone`."""

    first_monday: date
    count: int
    time_zone: str

    @classmethod
    def ending_at(
        cls, now: datetime, time_zone: str, weeks: int, *, since: datetime | None = None
    ) -> WeekWindow:
        """The last `weeks` weeks; fewer when `since` (a cohort's start) is more recent."""
        today = now.astimezone(zone_of(time_zone)).date()
        this_monday = today - timedelta(days=today.weekday())
        count = weeks
        if since is not None:
            first_day = since.astimezone(zone_of(time_zone)).date()
            lived = (this_monday - (first_day - timedelta(days=first_day.weekday()))).days // 7
            count = max(1, min(weeks, lived + 1))
        return cls(this_monday - timedelta(weeks=count - 1), count, time_zone)

    @property
    def start(self) -> datetime:
        return local_midnight(self.first_monday, self.time_zone)

    @property
    def end(self) -> datetime:
        return local_midnight(self.first_monday + timedelta(weeks=self.count), self.time_zone)

    @property
    def mondays(self) -> list[date]:
        return [self.first_monday + timedelta(weeks=index) for index in range(self.count)]

    def index_of(self, moment: datetime) -> int | None:
        """Which week `moment` falls in (0 the oldest), None outside the window."""
        index = (moment.astimezone(zone_of(self.time_zone)).date() - self.first_monday).days // 7
        return index if 0 <= index < self.count else None


def week_label(monday: date) -> str:
    """ "23 Nov": the week's Monday."""
    return f"{monday.day} {monday:%b}"
