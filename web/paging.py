"""Pages of a long list: which page was asked for, and the links around it."""

from __future__ import annotations

from dataclasses import dataclass

# Page links shown on each side of the current page before an ellipsis.
NEARBY_PAGES = 2


def page_number(value: str | None) -> int:
    try:
        return max(1, int(value or "1"))
    except ValueError:
        return 1


@dataclass(frozen=True)
class Pager:
    page: int
    pages: int
    total: int
    per_page: int

    @property
    def first_shown(self) -> int:
        return 0 if self.total == 0 else (self.page - 1) * self.per_page + 1

    @property
    def last_shown(self) -> int:
        return min(self.total, self.page * self.per_page)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    def numbers(self) -> list[int | None]:
        """The page numbers to link, None where an ellipsis stands: 1 … 4 5 [6] 7 8 … 200."""
        keep = {1, self.pages} | set(
            range(max(1, self.page - NEARBY_PAGES), min(self.pages, self.page + NEARBY_PAGES) + 1)
        )
        shown: list[int | None] = []
        previous = 0
        for number in sorted(keep):
            if number - previous > 1:
                shown.append(None)
            shown.append(number)
            previous = number
        return shown


def make_pager(requested: int, total: int, per_page: int) -> Pager:
    """A page past the end shows the last page rather than an empty table."""
    pages = max(1, -(-total // per_page))
    return Pager(page=min(requested, pages), pages=pages, total=total, per_page=per_page)
