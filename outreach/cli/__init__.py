"""`outreach`: the command line, and the composition root that starts each process.

Two kinds of commands live in this package, one module per command group:

- process commands (`serve`: `web`, `worker`, `poller`, `up`; `database`:
  `db upgrade`; `sandbox`) wire settings into the dashboard, the RQ worker and
  the poller. They import `web` and `workers` inside the function, so the core
  never pulls in Flask or RQ by importing this package (the import-linter
  contract allows only these edges);
- domain commands (`users`, `mailboxes`, `keys`, `contacts`, `targets`,
  `drafts`, `cycle`, `status`, `interviews`, `classify`, `invites`, `cohorts`) call the
  same core use cases as the dashboard, for people and career centres who script their set-up.

`common` holds what every command shares (settings, sessions, --user, output).
Settings are built inside each command, never at import. Every error the core
raises on purpose (OutreachError) is turned into one sentence on stderr and exit
status 1. Secrets are read from stdin or a hidden prompt, never from argv, and
never printed. The JSON printed by `--json` is documented in docs/cli.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from outreach.cli import (
    classify,
    cohorts,
    contacts,
    cycle,
    database,
    drafts,
    interviews,
    invites,
    keys,
    mailboxes,
    sandbox,
    serve,
    status,
    targets,
    users,
)
from outreach.errors import OutreachError


def _database_problem(error: SQLAlchemyError) -> str:
    text = str(error.orig if isinstance(error, DBAPIError) else error).strip()
    first_line = text.splitlines()[0] if text else type(error).__name__
    lowered = text.lower()
    if "no such table" in lowered or ("relation" in lowered and "does not exist" in lowered):
        return "the database has no tables yet; run `outreach db upgrade` first"
    return f"the database could not be used: {first_line}"


class _OutreachGroup(click.Group):
    """The root group: turns deliberate errors into a sentence on stderr and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OutreachError as error:
            raise click.ClickException(str(error)) from None
        except SQLAlchemyError as error:
            raise click.ClickException(_database_problem(error)) from None


@click.group(cls=_OutreachGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="outreach")
def outreach() -> None:
    """Informational-interview outreach from your own mailbox.

    Settings come from OUTREACH_* environment variables (see the README).
    """


for command in (
    database.db_group,
    serve.web,
    serve.worker,
    serve.poller,
    serve.up,
    sandbox.sandbox,
    users.user_group,
    mailboxes.mailbox_group,
    keys.keys_group,
    contacts.contacts_group,
    targets.target_group,
    cycle.cycle_group,
    drafts.drafts_group,
    status.status,
    classify.classify_command,
    interviews.interviews_group,
    invites.invite_group,
    cohorts.cohort_group,
):
    outreach.add_command(command)


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    outreach.main(args=list(argv) if argv is not None else None, prog_name="outreach")
