"""The request-scoped database session: opened on first use, closed on teardown.

Views commit explicitly; whatever a request leaves uncommitted is rolled back
when the session closes.
"""

from __future__ import annotations

from flask import Flask, g
from sqlalchemy.orm import Session

from web.state import services


def get_session() -> Session:
    if "db_session" not in g:
        g.db_session = services().sessions()
    session = g.db_session
    assert isinstance(session, Session)
    return session


def close_session(_error: BaseException | None = None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


def init_app(app: Flask) -> None:
    app.teardown_appcontext(close_session)
