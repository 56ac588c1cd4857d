"""`outreach classify`: how raw message files would be classified (no settings, no database)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import click

from outreach.cli.common import json_option, utcnow
from outreach.reading.classify import InboundKind, Reading, read_message
from outreach.reading.mime import parse_headers


def classification_json(file: str, result: Reading) -> dict[str, object]:
    bounce = result.bounce
    return {
        "file": file,
        "kind": result.kind.value,
        "bounce": None
        if bounce is None
        else {
            "recipient": bounce.failed_recipient or None,
            "status": bounce.status,
            "hard": bounce.hard,
            "action": bounce.action,
            "reason": bounce.reason,
            "diagnostic": bounce.diagnostic,
            "original_message_id": bounce.original_message_id,
        },
        "return_date": result.return_date.isoformat() if result.return_date else None,
        "declines": result.declines,
        "unsubscribe": result.unsubscribe,
        "suggests_others": result.suggests_others,
        "problem": result.problem,
    }


def _classification_line(file: str, result: Reading) -> str:
    parts = [result.kind.value]
    bounce = result.bounce
    if bounce is not None:
        grade = "delayed, soft" if bounce.action == "delayed" else "hard" if bounce.hard else "soft"
        status = f", {bounce.status}" if bounce.status else ""
        parts.append(f"({grade}{status}) {bounce.failed_recipient or '(recipient not given)'}")
        if bounce.original_message_id:
            parts.append(f"for {bounce.original_message_id}")
    if result.auto_reply is not None and result.auto_reply.gone:
        parts.append("(no longer read there: the next name gets the place)")
    elif result.auto_reply is not None and result.auto_reply.challenge:
        parts.append("(a filter asks you to confirm you are a person)")
    elif result.auto_reply is not None:
        parts.append(
            f"back {result.return_date.isoformat()}" if result.return_date else "(no return date)"
        )
    flags = [
        label
        for label, flag in (
            ("declines", result.declines),
            ("asks not to be contacted again", result.unsubscribe),
            ("suggests others", result.suggests_others),
        )
        if flag
    ]
    if flags:
        parts.append(f"({', '.join(flags)})")
    if result.problem:
        parts.append(f"- {result.problem}")
    return f"{file}: {' '.join(parts)}"


def _arrival(raw: bytes, now: datetime) -> datetime:
    """The message's Date, which dates a return date written without a year; else now."""
    try:
        written = parsedate_to_datetime(parse_headers(raw).get("date", ""))
    except (ValueError, TypeError, IndexError, OverflowError):
        return now
    return written if written.tzinfo is not None else written.replace(tzinfo=UTC)


@click.command("classify")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="FILE..."
)
@json_option
@click.option(
    "--own",
    multiple=True,
    metavar="ADDRESS",
    help="One of your own addresses (repeatable): mail from it is own_message.",
)
def classify_command(files: tuple[Path, ...], as_json: bool, own: tuple[str, ...]) -> None:
    """How each raw message file (.eml) would be classified: reply, auto_reply, bounce, ...

    Needs no settings and no database. With --json, one JSON object per line.
    """
    own_addresses = frozenset(address.strip().lower() for address in own)
    now = utcnow()
    unreadable = 0
    for path in files:
        try:
            raw = path.read_bytes()
        except OSError as error:
            unreadable += 1
            result = Reading(
                InboundKind.OTHER, problem=f"the file could not be read: {error.strerror or error}"
            )
        else:
            result = read_message(raw, own_addresses, _arrival(raw, now))
        if as_json:
            line = json.dumps(classification_json(str(path), result), ensure_ascii=False)
        else:
            line = _classification_line(str(path), result)
        # File names and broken headers may carry undecodable bytes (lone surrogates here):
        # they print as "?" rather than stop the run.
        click.echo(line.encode("utf-8", "replace").decode("utf-8"))
    if unreadable:
        sys.exit(1)
