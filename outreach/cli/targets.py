"""`outreach target`: fields or organisations with their ordered lists of names."""

from __future__ import annotations

import click

from outreach import accounts, contacts, target_actions, targets
from outreach.asking_again import held_back
from outreach.cli.common import (
    acting_for,
    user_option,
    utcnow,
)
from outreach.errors import NotFound, ValidationError


@click.group("target")
def target_group() -> None:
    """Fields or organisations, each with an ordered list of names."""


def _split_addresses(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


@target_group.command("create")
@user_option
@click.argument("name")
@click.option(
    "--contacts",
    "addresses",
    required=True,
    metavar="EMAIL,EMAIL,...",
    help="Contacts' addresses, comma-separated, in the order to ask them.",
)
@click.option(
    "--field",
    "field_phrase",
    required=True,
    metavar="WORDS",
    help="The field as your emails say it, inside a sentence: the words that finish "
    '"Could I ask your advice about ...?", such as "museum education". NAME is the '
    "list's name, for you alone; it never appears in an email.",
)
@click.option("--max-in-flight", default=1, show_default=True, help="Requests out at once.")
@click.option("--wait-days", default=7, show_default=True, help="Business days before moving on.")
def target_create(
    user_email: str,
    name: str,
    addresses: str,
    field_phrase: str,
    max_in_flight: int,
    wait_days: int,
) -> None:
    """Create a target and draft the request to the first name(s) for approval."""
    wanted = _split_addresses(addresses)
    if not wanted:
        raise ValidationError("--contacts needs at least one email address")
    with acting_for(user_email) as (session, owner):
        contact_ids: list[int] = []
        for address in wanted:
            found = contacts.find_by_email(session, owner, accounts.normalise_email(address))
            if found is None:
                raise NotFound(f"{address} is not on your contact list; add or import it first")
            contact_ids.append(found.id)
        created, drafted = target_actions.start_target(
            session,
            owner,
            name,
            contact_ids,
            utcnow(),
            max_in_flight=max_in_flight,
            wait_business_days=wait_days,
            field_phrase=field_phrase,
        )
        names = f"{len(wanted)} name" + ("" if len(wanted) == 1 else "s")
        click.echo(
            f"created the target '{created.name}' (id {created.id}) with {names}; "
            f"emails say “{created.field_phrase}”"
        )
        for message in drafted:
            click.echo(f"drafted a request to {message.to_address} (draft {message.id})")
            if message.error:
                click.echo(f"  it cannot be approved yet: {message.error}", err=True)
        for held in held_back(session, owner, created.id, utcnow()):
            click.echo(f"{held.sentence}: nothing is drafted for them", err=True)
            if held.may_override:
                click.echo(
                    f"  to ask them all the same: outreach target ask-again {created.id} "
                    "<their address>",
                    err=True,
                )
        if not drafted:
            click.echo("no request drafted: nobody on the list can be asked now")


@target_group.command("ask-again")
@user_option
@click.argument("target_id", type=int)
@click.argument("address")
@click.confirmation_option(
    prompt="An earlier answer says not to ask this person again. Ask them all the same?"
)
def target_ask_again(user_email: str, target_id: int, address: str) -> None:
    """Ask a held-back person again on one list, deliberately (never do-not-contact)."""
    with acting_for(user_email) as (session, owner):
        target = targets.get_target(session, owner, target_id)
        found = contacts.find_by_email(session, owner, accounts.normalise_email(address))
        if found is None:
            raise NotFound(f"{address} is not on your contact list")
        drafted = target_actions.ask_again(session, owner, target, found.id, utcnow())
        click.echo(f"{found.name} will be asked again on '{target.name}' (recorded)")
        for message in drafted:
            click.echo(f"drafted a request to {message.to_address} (draft {message.id})")
