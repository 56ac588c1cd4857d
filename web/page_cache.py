"""Rendered pages kept for their user until the user's data changes, or a short while passes.

The board costs tens of milliseconds to read and render, and most requests for it find
nothing changed since the last one (issue 17, docs/decisions/0018). A kept page is
found by who asked (the user's id), the version of the user's data read with the
signed-in user's row (`outreach.data_version`: raised by every write to their data),
what was asked (the page and its query), and the cookie session's CSRF token, which
the page's forms carry; so no user ever gets another's page, and no sign-in another's
token. A page is kept at most `seconds`: parts of it move on with the clock alone
("the meeting is over", "sent today"), and are at most that much behind it.

One cache per app (per database), in each web process: every process revalidates on
its own against the version it reads from the database for each request.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class KeptPage:
    body: str
    # What the page's after-request hooks need to know of its rendering (web.views.mailboxes).
    extras: tuple[tuple[str, object], ...]
    kept_at: float


class PageCache:
    """The last rendered pages, least recently used first out; safe for gunicorn's threads."""

    def __init__(self, size: int = 128, seconds: float = 30.0) -> None:
        self.size = size
        self.seconds = seconds
        self._entries: OrderedDict[Hashable, KeptPage] = OrderedDict()
        self._lock = threading.Lock()
        # One lock per page being rendered: see rendering().
        self._rendering: dict[Hashable, threading.Lock] = {}
        self.hits = 0
        self.misses = 0

    @contextmanager
    def rendering(self, key: Hashable) -> Iterator[None]:
        """Held while `key`'s page is looked up and, if missing, rendered and kept.

        After a change every thread of the process asks for the same new page at once;
        one renders it, the others wait for it instead of rendering it too.
        """
        with self._lock:
            lock = self._rendering.setdefault(key, threading.Lock())
        try:
            with lock:
                yield
        finally:
            with self._lock:
                if not lock.locked():
                    self._rendering.pop(key, None)

    def get(self, key: Hashable) -> KeptPage | None:
        with self._lock:
            found = self._entries.get(key)
            if found is not None and time.monotonic() - found.kept_at < self.seconds:
                self._entries.move_to_end(key)
                self.hits += 1
                return found
            if found is not None:
                del self._entries[key]
            self.misses += 1
            return None

    def put(self, key: Hashable, body: str, extras: dict[str, object]) -> None:
        with self._lock:
            self._entries[key] = KeptPage(body, tuple(extras.items()), time.monotonic())
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
