"""What the end-to-end tests share: the database each scenario runs on."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(params=["sqlite", "postgresql"])
def e2e_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """SQLite in the instance folder, or a fresh PostgreSQL database."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("postgres").create_database())
    return f"sqlite:///{tmp_path / 'instance' / 'outreach.sqlite'}"
