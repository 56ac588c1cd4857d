"""A second opinion on a report's failed recipients: Mailman's flufl.bounce (pure).

flufl.bounce knows layouts from twenty years of mailing-list bounces (Yahoo, AOL, GroupWise,
SMTP32, Exim, Sina, Netscape, and a long list of generic phrasings) that our own readers do
not all know. It is asked only when our readers found nothing, so what it says never
overrides a structured RFC 3464 reading. Its detectors can raise on odd input (a header
object where they expect a string); any failure here counts as "nothing found".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from email import policy
from email.message import Message

from flufl.bounce import all_failures

# flufl.bounce logs a traceback for each detector that raises and goes on with the next:
# an inbound message must not fill the poller's log with another library's tracebacks.
_LIBRARY_LOG = logging.getLogger("flufl.bounce")
_LIBRARY_LOG.addHandler(logging.NullHandler())
_LIBRARY_LOG.propagate = False


@dataclass(frozen=True)
class LibraryFinding:
    """The recipients flufl.bounce reads as failed, lower-cased and sorted."""

    permanent: tuple[str, ...]
    temporary: tuple[str, ...]

    @property
    def first(self) -> str:
        return (self.permanent or self.temporary or ("",))[0]


def _addresses(found: object) -> tuple[str, ...]:
    if not isinstance(found, (set, frozenset)):
        return ()
    addresses = {
        (item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item)).lower()
        for item in found
    }
    # An address flufl.bounce read out of a broken line ("david...@x", "<a@b>") is no address.
    return tuple(sorted(a for a in addresses if "@" in a and " " not in a and "..." not in a))


def library_failures(message: Message) -> LibraryFinding | None:
    """What flufl.bounce reads as failed in `message` (compat32), or None for nothing."""
    if message.policy is not policy.compat32:
        return None
    try:
        temporary, permanent = all_failures(message)
    except Exception:  # a third-party reader must never stop ours
        return None
    finding = LibraryFinding(_addresses(permanent), _addresses(temporary))
    return finding if finding.permanent or finding.temporary else None
