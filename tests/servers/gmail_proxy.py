"""An IMAP proxy on loopback that makes the Dovecot behind it look like Gmail about threads.

Dovecot does not offer Gmail's IMAP extension (X-GM-EXT-1), so this proxy adds it:

- `X-GM-EXT-1` is added to every capability list the server sends (the greeting's
  and the login's response codes, and CAPABILITY responses);
- in a FETCH command, the `X-GM-THRID` item is replaced by a header fetch of
  `X-Test-Gm-Thrid` (and Message-ID): Dovecot would refuse X-GM-THRID. In the
  answers, that header item is taken out again and `X-GM-THRID <n>` put in its
  place, with n from the message's `X-Test-Gm-Thrid` header. A message without
  one gets a thread of its own (a number derived from its Message-ID), as every
  message on Gmail has a thread id.

With `gmail=False` the proxy only passes the bytes along, and records the
commands, so a test can see what a client sends to a server without the extension.
Plain IMAP only (no TLS): the proxy has to read the conversation.
"""

from __future__ import annotations

import hashlib
import re
import socket
import threading
from typing import BinaryIO

from .net import LOOPBACK

THREAD_HEADER = "X-Test-Gm-Thrid"
_ASKED = re.compile(rb"X-GM-THRID", re.IGNORECASE)
_FETCH_COMMAND = re.compile(rb"^\S+ (?:UID )?FETCH ", re.IGNORECASE)
_STAND_IN = b"BODY.PEEK[HEADER.FIELDS (X-TEST-GM-THRID MESSAGE-ID)]"
# How Dovecot names the stand-in item in its answer, with the literal that follows.
_STAND_IN_ANSWER = re.compile(
    rb"BODY\[HEADER\.FIELDS \(X-TEST-GM-THRID MESSAGE-ID\)\] \{(\d+)\}\r\n$", re.IGNORECASE
)
_LITERAL_AT_END = re.compile(rb"\{(\d+)\+?\}\r\n$")
_CAPABILITIES = re.compile(rb"(CAPABILITY IMAP4rev1)", re.IGNORECASE)
_THREAD_VALUE = re.compile(rb"^X-Test-Gm-Thrid:\s*(\d+)", re.IGNORECASE | re.MULTILINE)


class GmailProxy:
    """Forwards IMAP to `upstream_port`, adding Gmail's thread ids when `gmail` is set."""

    def __init__(
        self, upstream_port: int, upstream_host: str = LOOPBACK, *, gmail: bool = True
    ) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.gmail = gmail
        # Every command line clients sent (tags left out), before any rewriting.
        self.commands: list[bytes] = []
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listener = socket.create_server((LOOPBACK, 0))
        self.port: int = self._listener.getsockname()[1]
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def commands_with(self, word: bytes) -> list[bytes]:
        """The recorded commands that contain `word` (any case)."""
        with self._lock:
            return [line for line in self.commands if word.upper() in line.upper()]

    def stop(self) -> None:
        self._stopped.set()
        # Closing alone does not wake a thread blocked in accept() on Linux; shutdown does.
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            _close(sock)
        self._thread.join(5)

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _address = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                self._sockets += [client, server]
            threading.Thread(target=self._commands, args=(client, server), daemon=True).start()
            threading.Thread(target=self._answers, args=(server, client), daemon=True).start()

    def _commands(self, client: socket.socket, server: socket.socket) -> None:
        """Client to server: command lines, each perhaps followed by literals."""
        source = client.makefile("rb")
        try:
            while line := source.readline():
                _tag, _space, command = line.partition(b" ")
                with self._lock:
                    self.commands.append(command.rstrip(b"\r\n"))
                if self.gmail and _FETCH_COMMAND.match(line) and _ASKED.search(line):
                    line = _ASKED.sub(lambda _found: _STAND_IN, line)
                server.sendall(line)
                literal = _LITERAL_AT_END.search(line)
                if literal:
                    # A literal's bytes are data, not commands: passed along untouched.
                    server.sendall(_read_exactly(source, int(literal.group(1))))
        except OSError:
            pass
        finally:
            source.close()
            _close(client)
            _close(server)

    def _answers(self, server: socket.socket, client: socket.socket) -> None:
        """Server to client: one response at a time, its literals read by their length."""
        source = server.makefile("rb")
        try:
            while True:
                texts, literals = _read_response(source)
                if not texts[0]:
                    return
                if self.gmail:
                    texts, literals = _as_gmail(texts, literals)
                client.sendall(_join(texts, literals))
        except OSError:
            pass
        finally:
            source.close()
            _close(client)
            _close(server)


def _read_exactly(source: BinaryIO, size: int) -> bytes:
    data = source.read(size)
    if len(data) != size:
        raise OSError("the connection closed inside a literal")
    return data


def _read_response(source: BinaryIO) -> tuple[list[bytes], list[bytes]]:
    """One response as its text pieces and the literals between them.

    `texts[i]` ends with the `{n}` announcing `literals[i]`; the last text ends
    the response. An empty first text means the server hung up.
    """
    texts = [source.readline()]
    literals: list[bytes] = []
    while announced := _LITERAL_AT_END.search(texts[-1]):
        literals.append(_read_exactly(source, int(announced.group(1))))
        texts.append(source.readline())
    return texts, literals


def _join(texts: list[bytes], literals: list[bytes]) -> bytes:
    pieces = [texts[0]]
    for literal, text in zip(literals, texts[1:], strict=True):
        pieces += [literal, text]
    return b"".join(pieces)


def _as_gmail(texts: list[bytes], literals: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """The response as Gmail would send it: X-GM-EXT-1 offered, X-GM-THRID answered."""
    if not literals:
        return [_CAPABILITIES.sub(rb"\1 X-GM-EXT-1", texts[0])], literals
    for index, literal in enumerate(literals):
        stand_in = _STAND_IN_ANSWER.search(texts[index])
        if stand_in is None:
            continue
        head, tail = texts[index][: stand_in.start()], texts[index + 1]
        # Take the item out with one of the spaces around it.
        if head.endswith(b" "):
            head = head[:-1]
        elif tail.startswith(b" "):
            tail = tail[1:]
        texts = [*texts[:index], head + tail, *texts[index + 2 :]]
        literals = [*literals[:index], *literals[index + 1 :]]
        last = texts[-1]
        close = last.rindex(b")")
        item = b" X-GM-THRID " + str(thread_id_of(literal)).encode()
        texts[-1] = last[:close] + item + last[close:]
        return texts, literals
    return texts, literals


def thread_id_of(header_block: bytes) -> int:
    """The thread id a test gave the message, or one of its own from its Message-ID."""
    given = _THREAD_VALUE.search(header_block)
    if given:
        return int(given.group(1))
    # Above any number a test would pick, below 2**63.
    digest = hashlib.sha256(header_block).digest()
    return 2**62 + int.from_bytes(digest[:7], "big")


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
