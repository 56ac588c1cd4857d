"""`outreach interviews`: records of the informational interviews held."""

from __future__ import annotations

import click

from outreach.cli.common import acting_for, user_option


@click.group("interviews")
def interviews_group() -> None:
    """Records of the informational interviews you held."""


@interviews_group.command("export")
@user_option
@click.option(
    "--csv", "as_csv", is_flag=True, default=True, help="CSV on standard output (the default)."
)
def interviews_export(user_email: str, as_csv: bool) -> None:
    """Every interview as CSV: who, role, organisation, date, answers, referrals."""
    from outreach import meetings

    with acting_for(user_email) as (session, owner):
        text = meetings.export_csv(meetings.interview_records(session, owner), owner.time_zone)
    click.echo(text, nl=False)
