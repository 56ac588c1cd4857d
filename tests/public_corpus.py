"""The public sample of real delivery reports (tests/corpus/public) and what each one is.

`tests/corpus/public/expected.tsv` says, per file, the sender's family, what the message is
(bounce, reply, auto_reply) and the failed recipients the report names ('-': none). The
corpus test and `bench/bounce_recognition.py` both read it from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PUBLIC = Path(__file__).resolve().parent / "corpus" / "public"
# Real reports kept apart from the ones the readers were tuned on: the honest check.
HOLDOUT = PUBLIC / "holdout"


@dataclass(frozen=True)
class Sample:
    path: Path
    family: str
    kind: str
    recipients: frozenset[str]

    @property
    def name(self) -> str:
        return f"{self.path.parent.name}/{self.path.name}"


def samples(folder: Path = PUBLIC) -> list[Sample]:
    """The samples listed in `folder`/expected.tsv (the tuned corpus, or HOLDOUT)."""
    found: list[Sample] = []
    for line in (folder / "expected.tsv").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, family, kind, recipients = line.split("\t")
        named = frozenset() if recipients == "-" else frozenset(recipients.split(","))
        found.append(Sample(folder / name, family, kind, named))
    return found
