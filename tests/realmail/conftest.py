"""Fixtures for tests that classify messages written by real mail software.

One session-wide mail system: our own Dovecot (LMTP, IMAP, Sieve vacation, quota) and our own
Postfix (relaying into it), plus a scripted SMTP server for the answers neither of them gives
(greylisting, a moved mailbox, a policy refusal, a reply code without an enhanced status).
A missing program fails the test with the Debian package to install: it is never skipped.
"""

from __future__ import annotations

import glob
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest

from tests.servers.tls import TlsFiles

from .mailsystem import DOMAIN, Mailbox, MailSystem, ScriptedRemote

_APT = "install it with: apt-get install -y --no-install-recommends "
SENDER = f"student@{DOMAIN}"

# What the scripted remote server answers, by local part ({address} is the recipient).
REMOTE_REPLIES = {
    "greylisted": "450 4.2.0 <{address}>: Recipient address rejected: Greylisted, "
    "see http://postgrey.example/",
    "moved": "550 5.1.6 <{address}>: Recipient address has moved; no forwarding address",
    "refused": "550 5.7.1 <{address}>: Recipient address rejected: Access denied",
    "legacy": "550 No such user here",
}

_MONTHS_EN = "January February March April May June July August September October November December"
_MONTHS_FR = "janvier février mars avril mai juin juillet août septembre octobre novembre décembre"
_MONTHS_ES = (
    "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre"
)
_WEEKDAYS_EN = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday"


@dataclass(frozen=True)
class Vacation:
    """A mailbox whose owner is away, and the day its Sieve vacation text names."""

    address: str
    return_date: date
    script: str


def _vacations(today: date) -> dict[str, Vacation]:
    """Vacation notices in four languages, with return dates a few weeks from today and no
    year, so the year has to be inferred as it would be in real mail."""
    en = today + timedelta(days=13)
    de = today + timedelta(days=20)
    fr = today + timedelta(days=30)
    es = today + timedelta(days=40)
    texts = {
        "alex": (
            en,
            "I am out of the office until "
            f"{_WEEKDAYS_EN.split()[en.weekday()]} {en.day} {_MONTHS_EN.split()[en.month - 1]}, "
            "with limited access to email. For urgent matters, write to bo@example.test.",
            None,
        ),
        "berta": (
            de,
            f"Vielen Dank für Ihre Nachricht. Ich bin bis zum {de.day}.{de.month}. nicht im Büro "
            "und lese meine E-Mails danach.",
            "Abwesenheitsnotiz",
        ),
        "claire": (
            fr,
            f"Bonjour, je serai absente jusqu'au {fr.day} {_MONTHS_FR.split()[fr.month - 1]} "
            "inclus. Je vous répondrai dès mon retour.",
            None,
        ),
        "carmen": (
            es,
            f"Gracias por su mensaje. Estaré fuera de la oficina hasta el {es.day} de "
            f"{_MONTHS_ES.split()[es.month - 1]}.",
            "Fuera de la oficina",
        ),
    }
    vacations = {}
    for name, (back, text, subject) in texts.items():
        subject_part = f' :subject "{subject}"' if subject else ""
        script = f'require ["vacation"];\nvacation :days 1{subject_part} "{text}";\n'
        vacations[name] = Vacation(f"{name}@{DOMAIN}", back, script)
    return vacations


@dataclass
class RealMail:
    """The running mail system, and what the tests may expect of it."""

    system: MailSystem
    vacations: dict[str, Vacation]
    sender: str = SENDER


def _require_programs() -> None:
    if shutil.which("dovecot") is None:
        pytest.fail(f"dovecot not found; {_APT}dovecot-imapd dovecot-lmtpd", pytrace=False)
    if not glob.glob("/usr/lib/dovecot/modules/lib90_sieve_plugin.so"):
        pytest.fail(f"Dovecot's Sieve plugin is missing; {_APT}dovecot-sieve", pytrace=False)
    if not os.path.exists("/usr/lib/postfix/sbin/master"):
        pytest.fail(
            "postfix not found; first run: echo 'postfix postfix/main_mailer_type select No "
            f"configuration' | debconf-set-selections; then {_APT}postfix",
            pytrace=False,
        )
    if os.geteuid() != 0:
        pytest.fail(
            "Postfix's master only starts as root (it drops to the postfix user itself); "
            "run tests/realmail as root, e.g. in the project's container",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def real_mail(tls_files: TlsFiles) -> Iterator[RealMail]:
    """Dovecot + Postfix + the scripted remote server, for the whole session."""
    _require_programs()
    vacations = _vacations(datetime.now(UTC).date())
    mailboxes = {
        "student": Mailbox(SENDER),
        # Any message is over a 10-byte quota: Dovecot refuses it with 552 5.2.2.
        "full": Mailbox(f"full@{DOMAIN}", quota="*:storage=10B"),
        **{name: Mailbox(v.address, sieve=v.script) for name, v in vacations.items()},
    }
    remote = ScriptedRemote(REMOTE_REPLIES)
    remote.start()
    system = MailSystem(tls_files, mailboxes, remote_port=remote.port)
    try:
        system.start()
        yield RealMail(system, vacations)
    finally:
        system.stop()
        remote.stop()
