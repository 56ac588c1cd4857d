"""Hostile inbound mail, end to end: delivered to the real Dovecot, read by the real poll
path, then shown on every page a user opens.

A sender of hostile mail writes whatever headers, MIME and HTML they like. For each message
here, the poll must not crash and must still match the reply to its contact (or file it
safely), and every page showing the reply's text, sender or subject must carry no script,
no event-handler attribute, no javascript:/data: URL, no frame and no style that came from
the message; the page's Content-Security-Policy must forbid inline script besides.

The pages are parsed with html.parser, as a browser builds elements, not searched as text:
`&lt;script&gt;` is the reply's words shown, `<script>` would be an element.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import ConsoleMessage, Dialog, sync_playwright
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from outreach import clock, drafts, targets
from outreach.config import Settings
from outreach.crypto import SecretBox
from outreach.mail.smtp import SmtpSender
from outreach.models import (
    Direction,
    Event,
    Meeting,
    Message,
    MessageKind,
    MessageStatus,
    Outreach,
)
from outreach.polling import poll_mailbox
from outreach.rules.states import OutreachState
from outreach.sending import Outcome, deliver
from tests.browser.live import (
    CHROMIUM,
    MISSING_CHROMIUM,
    REPO,
    VIEWPORT,
    launch_chromium,
    log_in,
    serving,
)
from tests.conftest import World
from tests.factories import make_contact
from tests.servers.dovecot import DovecotServer
from tests.web.conftest import Browser, build_app

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
CONTACT = "ida@org.example"
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"

# --- composing hostile replies ------------------------------------------------------------------

SCRIPT = "<script>document.title='pwned'</script>"
IMG = "<img src=x onerror=alert(1)>"
# Everything an attacker might try in markup: elements, event attributes, URLs, styles.
MARKUP = (
    f"{SCRIPT}<img src=x onerror=alert(1)><svg onload=alert(2)><svg><script>alert(3)</script>"
    "</svg><body onload=alert(4)><iframe src=javascript:alert(5)></iframe>"
    "<object data='data:text/html;base64,PHNjcmlwdD5hbGVydCg2KTwvc2NyaXB0Pg=='></object>"
    "<embed src=javascript:alert(7)><a href='javascript:alert(8)'>click</a>"
    "<a href='data:text/html,<script>alert(9)</script>'>data</a>"
    "<a href=' jav&#x09;ascript:alert(10)'>tab</a><form action=javascript:alert(11)>"
    "<button formaction=javascript:alert(12)>go</button></form>"
    "<style>body{background:url(javascript:alert(13))}</style>"
    "<div style='width: expression(alert(14))'>css</div>"
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(15)>"
    "<base href='javascript:alert(16)//'><meta http-equiv=refresh content='0;url=javascript:1'>"
    # Breaking out of the <pre> the body is shown in, and out of an attribute.
    "</pre></dd></dl></div><script>alert(17)</script>\"'><script>alert(18)</script>"
    "{{ config }}{% print 7 * 7 %}"
)


def encoded_word(
    text: str, encoding: str = "b", charset: str = "utf-8", *, label: str | None = None
) -> str:
    """`text` as one RFC 2047 encoded word; `label` names a charset other than the real one."""
    data = text.encode(charset)
    charset = label or charset
    if encoding == "b":
        return f"=?{charset}?b?{base64.b64encode(data).decode()}?="
    quoted = "".join(chr(byte) if chr(byte).isalnum() else f"={byte:02X}" for byte in data)
    return f"=?{charset}?q?{quoted}?="


@dataclass(frozen=True)
class Request:
    """What a reply needs of the request it answers."""

    message_id: str
    subject: str
    our_address: str


_serial = iter(range(1, 1_000_000))


def reply(
    request: Request,
    body: bytes | str,
    *,
    content_type: str = "text/plain; charset=utf-8",
    subject: str | None = None,
    sender: str = f"Ida Berg <{CONTACT}>",
    extra: str = "",
    threaded: bool = True,
    transfer_encoding: str | None = None,
) -> bytes:
    """A reply to `request`, threaded to it by In-Reply-To unless `threaded` is False."""
    head = [
        f"From: {sender}",
        f"To: {request.our_address}",
        f"Subject: {subject if subject is not None else 'Re: ' + request.subject}",
        f"Message-ID: <hostile-{next(_serial)}@org.example>",
        "Date: Tue, 24 Nov 2026 10:00:00 +0000",
        "MIME-Version: 1.0",
    ]
    if threaded:
        head += [f"In-Reply-To: {request.message_id}", f"References: {request.message_id}"]
    if content_type:
        head.append(f"Content-Type: {content_type}")
    if transfer_encoding:
        head.append(f"Content-Transfer-Encoding: {transfer_encoding}")
    raw_body = body.encode() if isinstance(body, str) else body
    return ("\r\n".join(head) + "\r\n" + extra).encode() + b"\r\n" + raw_body + b"\r\n"


def from_corpus(request: Request, name: str) -> bytes:
    """A sample of tests/corpus, its threading headers pointed at `request`."""
    raw = (CORPUS / name).read_bytes().replace(b"\r\n", b"\n")
    head, _, body = raw.partition(b"\n\n")
    dropped = (b"in-reply-to:", b"references:", b"to:", b"message-id:")
    kept = [line for line in head.split(b"\n") if not line.lower().startswith(dropped)]
    ours = [
        f"To: {request.our_address}".encode(),
        f"Message-ID: <corpus-{next(_serial)}@org.example>".encode(),
        f"In-Reply-To: {request.message_id}".encode(),
    ]
    return b"\r\n".join(ours + kept) + b"\r\n\r\n" + body.replace(b"\n", b"\r\n")


def multipart(boundary: str, *parts: tuple[str, bytes]) -> bytes:
    chunks = [
        f"--{boundary}\r\nContent-Type: {kind}\r\n\r\n".encode() + data + b"\r\n"
        for kind, data in parts
    ]
    return b"".join(chunks) + f"--{boundary}--".encode()


def nested(depth: int, inner: bytes) -> tuple[str, bytes]:
    """A multipart/mixed `depth` levels deep around one text/plain part."""
    content_type = "text/plain; charset=utf-8"
    body = inner
    for level in range(depth):
        boundary = f"n{level}"
        body = multipart(boundary, (content_type, body))
        content_type = f'multipart/mixed; boundary="{boundary}"'
    return content_type, body


INVITATION = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Hostile//EN\r\nMETHOD:REQUEST\r\n"
    "BEGIN:VEVENT\r\nUID:hostile-invite@org.example\r\nDTSTAMP:20261124T100000Z\r\n"
    "DTSTART:20301203T140000Z\r\nDTEND:20301203T150000Z\r\n"
    "SUMMARY:<script>alert('summary')</script>\r\n"
    "LOCATION:Canary-invite <img src=x onerror=alert(1)> javascript:alert(2)\r\n"
    "DESCRIPTION:</pre><script>alert(3)</script>\r\n"
    "URL:javascript:alert(4)\r\n"
    'ORGANIZER;CN="<svg onload=alert(5)>":mailto:ida@org.example\r\n'
    "END:VEVENT\r\nEND:VCALENDAR"
)


@dataclass(frozen=True)
class Case:
    name: str
    compose: Callable[[Request], bytes]
    # A word of the message that must reach the contact page (proof that it was shown).
    canary: str | None
    # The reply is stored on its contact; False: it may be filed as unreadable instead.
    matched: bool = True
    # Text that must be shown as text (escaped) somewhere on the contact page.
    shown: list[str] = field(default_factory=list)


CASES = [
    Case(
        "script in a text/plain body",
        lambda r: reply(r, f"Canary-plain. Happy to talk!\r\n{MARKUP}\r\n"),
        "Canary-plain",
        shown=[SCRIPT, "<img src=x onerror=alert(1)>", "</pre></dd></dl></div>"],
    ),
    Case(
        "script in an HTML-only body",
        lambda r: reply(
            r,
            f"<html><body onload=alert(0)><p>Canary-html, happy to talk.</p>{MARKUP}</body></html>",
            content_type="text/html; charset=utf-8",
        ),
        "Canary-html",
    ),
    Case(
        "markup in a multipart/alternative, each part hostile",
        lambda r: reply(
            r,
            multipart(
                "alt",
                ("text/plain; charset=utf-8", f"Canary-alt {MARKUP}".encode()),
                ("text/html; charset=utf-8", f"<p>{MARKUP}</p>".encode()),
            ),
            content_type='multipart/alternative; boundary="alt"',
        ),
        "Canary-alt",
        shown=[SCRIPT],
    ),
    Case(
        "entity-encoded markup and a quoted history carrying script",
        lambda r: reply(
            r,
            "Canary-quoted &lt;script&gt;alert(1)&lt;/script&gt;\r\n\r\n"
            "On Tue, 24 Nov 2026 at 09:30, <script>alert(2)</script> wrote:\r\n"
            f"> {SCRIPT}\r\n> <img src=x onerror=alert(3)>\r\n",
        ),
        "Canary-quoted",
        shown=["&lt;script&gt;alert(1)&lt;/script&gt;", SCRIPT],
    ),
    Case(
        "a From display name and a Subject carrying HTML",
        lambda r: reply(
            r,
            "Canary-names. Yes.",
            sender=f'"{SCRIPT}<img src=x onerror=alert(1)>" <{CONTACT}>',
            subject=f'Re: {SCRIPT}<a href=javascript:alert(2)>x</a>"><svg onload=alert(3)>',
        ),
        "Canary-names",
        shown=[f"Re: {SCRIPT}"],
    ),
    Case(
        "encoded words decoding to script in the Subject and the From name",
        lambda r: reply(
            r,
            "Canary-words. Yes.",
            sender=f"{encoded_word(SCRIPT)} <{CONTACT}>",
            subject=f"Re: {encoded_word(SCRIPT)} {encoded_word(IMG, 'q')}",
        ),
        "Canary-words",
        shown=[SCRIPT, "<img src=x onerror=alert(1)>"],
    ),
    Case(
        "RFC 2047 words carrying CR/LF, a header and a body",
        lambda r: reply(
            r,
            "Canary-crlf. Yes.",
            sender=encoded_word("Ida\r\nBcc: evil@evil.example") + f" <{CONTACT}>",
            subject="Re: "
            + encoded_word(f"hi\r\nX-Injected: 1\r\n\r\n{SCRIPT}")
            + " "
            + encoded_word(f"\r\nContent-Type: text/html\r\n\r\n{SCRIPT}", "q"),
        ),
        "Canary-crlf",
        shown=[SCRIPT],
    ),
    Case(
        "a multipart without its boundary",
        lambda r: reply(
            r,
            f"--lost\r\nContent-Type: text/html\r\n\r\n{MARKUP}\r\n--lost--\r\nCanary-noboundary",
            content_type="multipart/mixed",
        ),
        "Canary-noboundary",
    ),
    Case(
        "bad base64",
        lambda r: reply(
            r,
            base64.b64encode(f"Canary-base64 {SCRIPT}".encode())[:-3] + b"!!*%\r\n@@@==\r\n",
            transfer_encoding="base64",
        ),
        "Canary-base64",
    ),
    Case(
        "bad base64 in an HTML part",
        lambda r: reply(
            r,
            base64.b64encode(f"<p>Canary-b64html</p>{MARKUP}".encode())[:-5] + b"=!=",
            content_type="text/html; charset=utf-8",
            transfer_encoding="base64",
        ),
        "Canary-b64html",
    ),
    Case(
        "a charset that does not exist",
        lambda r: reply(
            r,
            f"Canary-charset caf\xe9 {SCRIPT}".encode("latin-1"),
            content_type='text/html; charset="x-no-such-charset\\"><script>"',
            subject=f"Re: {encoded_word('café' + SCRIPT, 'q', 'latin-1', label='x-unknown')}",
        ),
        "Canary-charset",
    ),
    Case(
        "mixed charsets",
        lambda r: reply(
            r,
            multipart(
                "mix",
                (
                    "text/plain; charset=iso-8859-1",
                    f"Canary-mixed caf\xe9 {SCRIPT}".encode("latin-1"),
                ),
                ("text/plain; charset=koi8-r", "привет <script>x</script>".encode("koi8-r")),
                (
                    "text/html; charset=shift_jis",
                    "<p>日本 <img src=x onerror=alert(1)></p>".encode("shift_jis"),
                ),
            ),
            content_type='multipart/mixed; boundary="mix"',
            subject=(
                f"Re: {encoded_word('café <script>', 'q', 'iso-8859-1')} "
                f"{encoded_word('привет</script>', 'b', 'koi8-r')} "
                f"{encoded_word('日本', 'b', 'shift_jis')}"
            ),
            extra="X-Raw-8bit: caf\u00e9 <script>alert(1)</script>\r\n",
        ),
        "Canary-mixed",
        shown=[SCRIPT],
    ),
    Case(
        "a 200 KB header line",
        lambda r: reply(
            r,
            "Canary-longheader. Yes.",
            extra=f"X-Long: {'a' * 200_000}{SCRIPT}\r\n",
        ),
        "Canary-longheader",
    ),
    Case(
        "a 200 KB Subject",
        lambda r: reply(
            r,
            "Canary-longsubject. Yes.",
            subject=f"Re: {SCRIPT * 5_000}",
        ),
        "Canary-longsubject",
        shown=[SCRIPT],
    ),
    Case(
        "a deeply nested multipart",
        lambda r: reply(
            r,
            nested(300, f"Canary-nested {SCRIPT}".encode())[1],
            content_type=nested(300, b"")[0],
        ),
        "Canary-nested",
    ),
    Case(
        "a multipart nested past Python's recursion limit",
        lambda r: reply(
            r,
            nested(3_000, f"Canary-abyss {SCRIPT}".encode())[1],
            content_type=nested(3_000, b"")[0],
        ),
        None,
        matched=False,
    ),
    Case(
        "a calendar invitation with script in its fields",
        lambda r: reply(
            r,
            multipart(
                "cal",
                ("text/plain; charset=utf-8", b"Canary-calendar. Here is an invitation."),
                ("text/calendar; method=REQUEST; charset=utf-8", INVITATION.encode()),
            ),
            content_type='multipart/mixed; boundary="cal"',
        ),
        "Canary-calendar",
    ),
    Case(
        "a possible reply from the contact's domain, named with script",
        lambda r: reply(
            r,
            f"Canary-possible {SCRIPT}",
            sender=f'"{SCRIPT}" <colleague@org.example>',
            threaded=False,
        ),
        "Canary-possible",
        shown=[SCRIPT],
    ),
    Case(
        "the corpus: a charset that does not exist",
        lambda r: from_corpus(r, "broken/unknown_charset.eml"),
        "Yes, gladly.",
    ),
    Case(
        "the corpus: a truncated multipart",
        lambda r: from_corpus(r, "broken/truncated_multipart.eml"),
        "Happy to help!",
    ),
]


# --- reading a page as a browser would ----------------------------------------------------------

# Attributes whose value a browser follows or runs as a URL.
URL_ATTRIBUTES = frozenset(
    {
        "href",
        "src",
        "action",
        "formaction",
        "data",
        "poster",
        "background",
        "xlink:href",
        "srcset",
        "ping",
        "cite",
        "longdesc",
        "lowsrc",
        "dynsrc",
        "manifest",
        "codebase",
    }
)
# Elements that run, embed or restyle something: none of them belongs on a page of ours.
FOREIGN_ELEMENTS = frozenset(
    {
        "iframe",
        "frame",
        "frameset",
        "object",
        "embed",
        "applet",
        "base",
        "style",
        "math",
        "img",
        "video",
        "audio",
        "source",
        "portal",
        "template",
    }
)
_SCHEME = re.compile(r"^([a-z][a-z0-9+.\-]*):")
_INVISIBLE = re.compile(r"[\x00-\x20]")


@dataclass
class Element:
    tag: str
    attributes: list[tuple[str, str | None]]


class PageReader(HTMLParser):
    """The elements of a page, the inline script text, and the text a person reads."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self.text: list[str] = []
        self.inline_script: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append(Element(tag, attrs))
        self._in_script = tag == "script"

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append(Element(tag, attrs))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            if data.strip():
                self.inline_script.append(data)
        else:
            self.text.append(data)


def read_page(html: str) -> PageReader:
    reader = PageReader()
    reader.feed(html)
    reader.close()
    return reader


def scheme_of(url: str) -> str | None:
    """The scheme a browser reads in `url`: it ignores whitespace and controls anywhere in it."""
    found = _SCHEME.match(_INVISIBLE.sub("", url).lower())
    return found.group(1) if found else None


def problems_in(html: str) -> list[str]:
    """What on the page could run or load something: each an element and why."""
    page = read_page(html)
    found: list[str] = [f"inline script: {text[:80]!r}" for text in page.inline_script]
    for element in page.elements:
        where = f"<{element.tag} {element.attributes}>"[:200]
        if element.tag in FOREIGN_ELEMENTS:
            found.append(f"a foreign element: {where}")
        if element.tag == "script":
            src = dict(element.attributes).get("src") or ""
            if not src.startswith("/static/"):
                found.append(f"a script not of ours: {where}")
        if element.tag == "link" and not (dict(element.attributes).get("href") or "").startswith(
            "/static/"
        ):
            found.append(f"a link not of ours: {where}")
        if element.tag == "meta" and "http-equiv" in dict(element.attributes):
            found.append(f"a meta http-equiv: {where}")
        for name, value in element.attributes:
            if name.startswith("on"):
                found.append(f"an event handler: {where}")
            if name == "style" and value and re.search(r"expression|url\(|@import", value, re.I):
                found.append(f"a style that loads or runs: {where}")
            if name in URL_ATTRIBUTES and value is not None:
                scheme = scheme_of(value)
                if scheme is not None and scheme not in {"http", "https", "mailto"}:
                    found.append(f"a {scheme}: URL: {where}")
                elif value.strip().startswith("//") or scheme in {"http", "https"}:
                    found.append(f"a URL off this site: {where}")
    return found


def script_sources(policy: str) -> list[str]:
    """The sources allowed for script: script-src, or default-src when there is none."""
    directives: dict[str, list[str]] = {}
    for directive in policy.split(";"):
        words = directive.split()
        if words:
            directives.setdefault(words[0].lower(), [word.lower() for word in words[1:]])
    for name in ("script-src-elem", "script-src", "default-src"):
        if name in directives:
            return directives[name]
    return ["*"]  # no directive at all: anything goes


# --- the world the tests run in -----------------------------------------------------------------


@dataclass
class Inbox:
    """A user with a sent request, signed in to the dashboard, and a way to poll."""

    world: World
    browser: Browser
    request: Message
    factory: sessionmaker[Session]
    box: SecretBox
    dovecot: DovecotServer
    now: datetime

    @property
    def answered(self) -> Request:
        return Request(
            self.request.message_id or "", self.request.subject, self.request.from_address
        )

    def deliver(self, raw: bytes) -> None:
        self.dovecot.deliver(raw, self.world.account.user)

    def poll(self) -> None:
        result = poll_mailbox(
            self.factory, self.world.mailbox.id, self.box, self.world.context, lambda: self.now
        )
        assert result.ok, result.problem


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    yield from build_app(settings)


@pytest.fixture
def inbox(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    dovecot: DovecotServer,
    secret_box: SecretBox,
    app: Flask,
) -> Inbox:
    now = clock.now()
    person = make_contact(session, world.user, email=CONTACT, name="Ida Berg")
    target = targets.create_target(session, world.user, "Radio", [person.id])
    (draft,) = targets.fill_pipeline(session, world.user, target, now)
    drafts.approve(session, world.user, draft.id, now)
    session.commit()
    result = deliver(session_factory, draft.id, SmtpSender(world.context), secret_box, lambda: now)
    assert result.outcome is Outcome.SENT
    session.refresh(draft)
    browser = Browser(app.test_client())
    assert browser.login(world.user.email).status_code == 302
    return Inbox(world, browser, draft, session_factory, secret_box, dovecot, now)


def pages_of(session: Session, inbox: Inbox) -> list[str]:
    """Every page of the user that can show an inbound message's text, sender or subject."""
    request = inbox.request
    user_id = inbox.world.user.id
    paths = [
        "/",
        "/?state=replied",
        "/board/live",
        "/contacts",
        f"/contacts/{request.contact_id}",
        "/drafts",
        "/outbox",
        "/targets",
        f"/targets/{session.get_one(Outreach, request.outreach_id).target_id}",
        "/meetings",
        f"/meetings/new?contact={request.contact_id}",
        "/mailbox",
        "/profile",
    ]
    for meeting_id in session.scalars(select(Meeting.id).where(Meeting.user_id == user_id)):
        paths += [
            f"/meetings/{meeting_id}",
            f"/meetings/{meeting_id}/notes",
            f"/meetings/{meeting_id}/print",
        ]
    waiting = select(Message.id).where(
        Message.user_id == user_id, Message.status == MessageStatus.DRAFT
    )
    paths += [f"/drafts/{message_id}" for message_id in session.scalars(waiting)]
    return paths


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_mail_is_read_and_shown_inert(
    case: Case, inbox: Inbox, session: Session, settings: Settings
) -> None:
    inbox.deliver(case.compose(inbox.answered))

    inbox.poll()

    session.expire_all()
    request = inbox.request
    stored = session.scalars(
        select(Message).where(
            Message.user_id == inbox.world.user.id, Message.direction == Direction.INBOUND
        )
    ).all()
    if case.matched:
        assert [(m.contact_id, m.kind) for m in stored] == [(request.contact_id, MessageKind.REPLY)]
        outreach = session.get_one(Outreach, request.outreach_id)
        # Matched by its sender's domain only, it waits for the user to say; otherwise it
        # is the contact's reply.
        expected = OutreachState.REPLIED if stored[0].match_rule != "domain" else outreach.state
        assert outreach.state is expected
    else:
        # Filed: a note on the contact's timeline that a message could not be read, and
        # the cycle left as it was.
        notes = session.scalars(
            select(Event.detail).where(
                Event.user_id == inbox.world.user.id,
                Event.kind.in_(["inbound:unreadable", "inbound:other"]),
            )
        ).all()
        assert stored or notes, "the message was neither matched nor filed"

    contact_page = f"/contacts/{request.contact_id}"
    for path in pages_of(session, inbox):
        response = inbox.browser.get(path)
        assert response.status_code == 200, (path, response.status_code)
        html = response.get_data(as_text=True)
        assert problems_in(html) == [], path
        assert settings.secret_key not in html, path
        sources = script_sources(response.headers.get("Content-Security-Policy", ""))
        for allowing in ("'unsafe-inline'", "'unsafe-eval'", "*", "data:", "http:", "https:"):
            assert allowing not in sources, (path, sources)
        if path == contact_page:
            text = "".join(read_page(html).text)
            if case.canary is not None:
                assert case.canary in text, "the reply's text is not on the contact page"
            for words in case.shown:
                assert words in text, f"{words!r} is not shown as text"


# The messages of the cases above that a browser could be fooled by, in one mailbox.
IN_CHROMIUM = [
    "script in a text/plain body",
    "script in an HTML-only body",
    "a From display name and a Subject carrying HTML",
    "encoded words decoding to script in the Subject and the From name",
    "a calendar invitation with script in its fields",
    "a possible reply from the contact's domain, named with script",
]


def test_in_chromium_nothing_of_the_messages_runs_or_loads(
    inbox: Inbox, session: Session, app: Flask
) -> None:
    by_name = {case.name: case for case in CASES}
    for name in IN_CHROMIUM:
        inbox.deliver(by_name[name].compose(inbox.answered))
    inbox.poll()
    paths = pages_of(session, inbox)
    if not CHROMIUM.exists():
        pytest.fail(MISSING_CHROMIUM, pytrace=False)

    dialogs: list[str] = []
    refused: list[str] = []
    requests: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            refused.append(message.text)

    # Started after the SMTP send (asyncio.run) and stopped before the next test, as
    # tests/browser/conftest.py explains.
    with serving(app) as base_url, sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        try:
            page = chromium.new_page(viewport=VIEWPORT)
            page.on("dialog", on_dialog)
            page.on("console", on_console)
            page.on("request", lambda request: requests.append(request.url))
            log_in(page, base_url, inbox.world.user.email)
            for path in paths:
                page.goto(base_url + path)
                page.wait_for_load_state("load")
                assert page.title() != "pwned", path
                built = page.evaluate(
                    "() => [...document.querySelectorAll("
                    "'script:not([src]), iframe, object, embed, img, style, base, "
                    '[onerror], [onload], [onclick], a[href^="javascript"]\')]'
                    ".map((element) => element.outerHTML.slice(0, 120))"
                )
                assert built == [], path
                if path == f"/contacts/{inbox.request.contact_id}":
                    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                    page.screenshot(
                        path=str(SCREENSHOTS / "hostile-inbound-contact.png"), full_page=True
                    )
        finally:
            chromium.close()

    assert dialogs == []
    assert refused == [], "the page tried to run or load something its policy refused"
    assert [url for url in requests if not url.startswith(base_url)] == []
