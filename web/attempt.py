"""A view's use case as one unit of work: kept when it goes through, undone and explained if not.

A form post that calls the core ends in one of two ways. The core refuses (a
ValidationError): the half-done change is rolled back and the reason is flashed as
a sentence, and the view answers with its own page. Otherwise the change is
committed. `attempt` is that ending, written once for every view.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from flask import flash
from sqlalchemy.orm import Session

from outreach.errors import ValidationError
from web.helpers import sentence


@dataclass
class Attempt:
    """What became of the use case run inside `attempt`."""

    refusal: ValidationError | None = None

    @property
    def refused(self) -> bool:
        return self.refusal is not None


@contextmanager
def attempt(session: Session) -> Iterator[Attempt]:
    """Commit what the block changes; when the core refuses it, roll back and flash why.

    The caller looks at `refused` after the block and answers with its own page.
    Any other exception passes through uncommitted, to web.errors.
    """
    outcome = Attempt()
    try:
        yield outcome
    except ValidationError as error:
        session.rollback()
        flash(sentence(error), "error")
        outcome.refusal = error
    else:
        session.commit()
