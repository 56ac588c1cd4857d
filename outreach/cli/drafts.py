"""`outreach drafts`: list and approve the messages waiting for approval."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from outreach import drafts
from outreach.cli.common import (
    acting_for,
    find_user,
    iso,
    json_option,
    load_settings,
    print_json,
    sessions,
    user_option,
    utcnow,
    with_redis,
)
from outreach.config import Settings
from outreach.db import session_scope
from outreach.errors import NotFound, ValidationError
from outreach.models import Message, User


@click.group("drafts")
def drafts_group() -> None:
    """Messages waiting for the user's approval."""


def draft_json(message: Message) -> dict[str, object]:
    contact = message.contact
    return {
        "id": message.id,
        "kind": message.kind.value,
        "status": message.status.value,
        "contact_id": message.contact_id,
        "contact_name": contact.name if contact is not None else None,
        "to": message.to_address,
        "outreach_id": message.outreach_id,
        "subject": message.subject,
        "body": message.body_text,
        "can_approve": message.error is None,
        "problem": message.error,
        "created_at": iso(message.created_at),
    }


@drafts_group.command("list")
@user_option
@json_option
def drafts_list(user_email: str, as_json: bool) -> None:
    """List drafts waiting for approval, oldest first."""
    with acting_for(user_email) as (session, owner):
        items = drafts.list_drafts(session, owner)
        if as_json:
            print_json({"drafts": [draft_json(item) for item in items]})
            return
        if not items:
            click.echo("no drafts waiting for approval")
        for item in items:
            click.echo(f"{item.id:>5}  {item.kind.value:<10} {item.to_address}  {item.subject}")
            if item.error:
                click.echo(f"       cannot be approved yet: {item.error}")


def _enqueue(settings: Settings, message_ids: Sequence[int]) -> str | None:
    """Wake a worker for each message; returns why it could not, or None."""
    settings = with_redis(settings)
    if not settings.redis_url:
        return (
            "no Redis is configured (OUTREACH_REDIS_URL is unset and `outreach up` is not running)"
        )
    from redis.exceptions import RedisError

    from workers.queues import enqueue_send, redis_connection

    try:
        connection = redis_connection(settings)
        for message_id in message_ids:
            enqueue_send(connection, message_id)
        connection.close()
    except RedisError as error:
        return f"Redis could not be reached ({str(error).rstrip('.')})"
    return None


@drafts_group.command("approve")
@user_option
@click.argument("message_ids", nargs=-1, type=int, metavar="[ID]...")
@click.option("--all", "approve_all", is_flag=True, help="Approve every draft that can be.")
def drafts_approve(user_email: str, message_ids: tuple[int, ...], approve_all: bool) -> None:
    """Approve drafts for sending; a worker sends them within the sending rules."""
    if bool(message_ids) == approve_all:
        raise click.UsageError("give draft ids or --all, not both and not neither")
    settings = load_settings()
    now = utcnow()
    approved: list[tuple[int, str]] = []
    refused: list[tuple[int, str]] = []
    with sessions(settings) as factory:
        with session_scope(factory) as session:
            owner_id = find_user(session, user_email).id
            if approve_all:
                waiting = drafts.list_drafts(session, session.get_one(User, owner_id))
                message_ids = tuple(item.id for item in waiting)
        for message_id in message_ids:
            # One transaction per draft: one refusal does not undo the other approvals.
            try:
                with session_scope(factory) as session:
                    owner = session.get_one(User, owner_id)
                    message = drafts.approve(session, owner, message_id, now)
                    approved.append((message.id, message.to_address))
            except (ValidationError, NotFound) as error:
                refused.append((message_id, str(error)))
    for message_id, address in approved:
        click.echo(f"approved draft {message_id} to {address}")
    if approve_all and not approved and not refused:
        click.echo("no drafts waiting for approval")
    if approved:
        problem = _enqueue(settings, [message_id for message_id, _ in approved])
        if problem is None:
            click.echo(f"queued {len(approved)} for sending")
        else:
            click.echo(
                f"warning: {problem}. The approval is kept: a running worker queues approved "
                "messages by itself within a minute.",
                err=True,
            )
    for message_id, reason in refused:
        click.echo(f"draft {message_id} was not approved: {reason}", err=True)
    if refused:
        sys.exit(1)
