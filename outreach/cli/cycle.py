"""`outreach cycle`: the cycle's clock, run once by hand."""

from __future__ import annotations

import click

from outreach.cli.common import load_settings, transaction, utcnow


@click.group("cycle")
def cycle_group() -> None:
    """The cycle's clock: follow-ups, giving up, next names, meetings."""


@cycle_group.command("run")
def cycle_run() -> None:
    """Take every step due now, for all users, once (a worker does this every sweep)."""
    from outreach.scheduler import run_due_steps

    with transaction(load_settings()) as session:
        lines = run_due_steps(session, utcnow())
    for line in lines:
        click.echo(line)
    if not lines:
        click.echo("nothing was due")
