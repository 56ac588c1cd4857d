"""`outreach status`: the status board."""

from __future__ import annotations

import click

from outreach import board
from outreach.cli.common import (
    acting_for,
    iso,
    json_option,
    load_settings,
    print_json,
    user_option,
    utcnow,
)
from outreach.rules import local_time


def board_row_json(row: board.BoardRow) -> dict[str, object]:
    return {
        "contact_id": row.contact_id,
        "contact_name": row.contact_name,
        "contact_email": row.contact_email,
        "organisation": row.organisation,
        "target_id": row.target_id,
        "target_name": row.target_name,
        "state": row.state.value,
        "label": row.label,
        "detail": row.detail,
        "since": iso(row.since),
    }


@click.command("status")
@user_option
@json_option
def status(user_email: str, as_json: bool) -> None:
    """The status board: where each contact stands in each target."""
    now = utcnow()
    with acting_for(user_email) as (session, owner):
        rows = board.status_board(
            session, owner, now, sandbox_day_seconds=load_settings().sandbox_day_seconds
        )
        pending = board.pending_draft_count(session, owner)
        zone = owner.time_zone or "UTC"
    if as_json:
        print_json(
            {
                "generated_at": iso(now),
                "pending_drafts": pending,
                "outreaches": [board_row_json(row) for row in rows],
            }
        )
        return
    if not rows:
        click.echo("nothing on the board yet; create a target with `outreach target create`")
    for row in rows:
        detail = f" ({row.detail})" if row.detail else ""
        click.echo(
            f"{row.contact_name} <{row.contact_email}>  {row.target_name}: {row.label}{detail}"
            f"  since {local_time.date_and_time(row.since, zone)} ({zone})"
        )
    if pending:
        click.echo(f"{pending} draft(s) waiting for approval: `outreach drafts list`")
