"""`outreach sandbox`: local mail servers where simulated contacts answer."""

from __future__ import annotations

import click

from outreach.cli.common import fail, find_user, load_settings, transaction, utcnow
from outreach.crypto import SecretBox


@click.command("sandbox")
@click.option(
    "--user",
    "user_email",
    metavar="EMAIL",
    help="Also give this account a sandbox mailbox, demo contacts and a target.",
)
@click.option(
    "--no-servers", is_flag=True, help="Only set up --user; `outreach up` runs the servers."
)
@click.option(
    "--demo-cohort",
    "adviser_email",
    metavar="ADVISER",
    help="Give this adviser a demo cohort of pretend students (afresh if there is one), then stop.",
)
@click.option(
    "--remove-demo-cohort",
    "remove_email",
    metavar="ADVISER",
    help="Remove this adviser's demo cohort and its pretend students, then stop.",
)
def sandbox(
    user_email: str | None,
    no_servers: bool,
    adviser_email: str | None,
    remove_email: str | None,
) -> None:
    """Run the sandbox: local mail servers where simulated contacts answer.

    No real email is sent. Addresses at people.outreach-sandbox.invalid answer by
    their first word: agrees, declines, away, bounces or silent.
    """
    from outreach.rules.sandbox_addresses import SANDBOX_LABEL
    from outreach.sandbox.demo import SandboxPorts, set_up_sandbox

    settings = load_settings()
    if adviser_email or remove_email:
        _demo_cohort(adviser_email, remove_email)
        return
    if user_email:
        with transaction(settings) as session:
            account = find_user(session, user_email)
            setup = set_up_sandbox(
                session,
                account,
                SecretBox(settings.encryption_keys),
                SandboxPorts(smtp=settings.sandbox_smtp_port, imap=settings.sandbox_imap_port),
                utcnow(),
            )
            click.echo(
                f"{SANDBOX_LABEL}. {account.email} now uses the sandbox mailbox "
                f"{setup.mailbox.email_address}; target '{setup.target.name}' has "
                f"{len(setup.target.entries)} demo contacts ({setup.contacts_added} new); "
                f"{len(setup.drafted)} request(s) drafted for approval."
            )
            if setup.introduction_added:
                click.echo("Your profile had no introduction: an example one was put in.")
    if no_servers:
        return
    from outreach.sandbox.servers import serve

    try:
        serve(settings)
    except OSError as error:
        fail(
            f"the sandbox could not listen on 127.0.0.1 ({error.strerror or error}); "
            "is another sandbox running? OUTREACH_SANDBOX_SMTP_PORT and "
            "OUTREACH_SANDBOX_IMAP_PORT choose other ports"
        )


def _demo_cohort(adviser_email: str | None, remove_email: str | None) -> None:
    """Pretend students need no mail servers: they never sign in, send or receive."""
    from outreach.rules.sandbox_addresses import SANDBOX_LABEL
    from outreach.sandbox.demo import SandboxPorts
    from outreach.sandbox.demo_cohort import remove_demo_cohort, set_up_demo_cohort

    settings = load_settings()
    if not settings.sandbox_enabled:
        fail("the sandbox is switched off here (OUTREACH_SANDBOX=off)")
    with transaction(settings) as session:
        if remove_email:
            adviser = find_user(session, remove_email)
            if remove_demo_cohort(session, adviser):
                click.echo(f"{adviser.email}'s demo cohort and its pretend students are gone.")
            else:
                click.echo(f"{adviser.email} has no demo cohort.")
        if adviser_email:
            adviser = find_user(session, adviser_email)
            demo = set_up_demo_cohort(
                session,
                adviser,
                SecretBox(settings.encryption_keys),
                SandboxPorts(smtp=settings.sandbox_smtp_port, imap=settings.sandbox_imap_port),
                utcnow(),
            )
            click.echo(
                f"{SANDBOX_LABEL}. {adviser.email} has the cohort '{demo.cohort.name}' "
                f"with {demo.students} pretend students, who cannot sign in or send mail"
                f"{' (made afresh)' if demo.replaced else ''}. "
                f"the Cohorts page and `outreach cohort report --name "
                f"'{demo.cohort.name}'` show it; "
                f"`outreach sandbox --remove-demo-cohort {adviser.email}` removes it."
            )
