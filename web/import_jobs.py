"""An import between its steps: the uploaded file, the chosen columns, how far it got.

A file is checked on one page and stored after the person confirms, in slices
that a small script asks for one by one (so the page shows progress), or all in
one request when scripts are off. Between those requests the import lives in a
JSON file of the instance folder, named by its user and a random token: the
session cookie is far too small for a file of thousands of rows, and the schema
has no table for it. A lock file keeps two requests from storing the same slice.
"""

from __future__ import annotations

import fcntl
import json
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from outreach.contact_import import Candidate, ImportReport, RowProblem
from outreach.errors import NotFound

# An import not finished within a day is forgotten (the file held names and addresses).
KEEP_SECONDS = 24 * 3600
_TOKEN_LENGTH = 22


@dataclass
class ImportJob:
    token: str
    user_id: int
    kind: str  # "csv" or "vcard"
    filename: str
    text: str
    # CSV: the field each column fills ("" to skip), and whether row 1 names the columns.
    columns: list[str] = field(default_factory=list)
    has_header: bool | None = None
    # Problems found while reading the file (a vCard's broken cards).
    read_problems: list[RowProblem] = field(default_factory=list)
    # Fixed when the person confirms: what is being stored, and how far it got.
    candidates: list[Candidate] | None = None
    position: int = 0
    report: ImportReport = field(default_factory=ImportReport)
    finished: bool = False

    @property
    def total(self) -> int:
        return len(self.candidates or [])


def _problem(data: dict[str, Any]) -> RowProblem:
    return RowProblem(int(data["number"]), str(data["where"]), str(data["problem"]))


def _to_json(job: ImportJob) -> str:
    return json.dumps(asdict(job), ensure_ascii=False)


# The fields JSON keeps as they are; the others are rebuilt into their types below.
_PLAIN_FIELDS = "token user_id kind filename text has_header position finished".split()


def _from_json(text: str) -> ImportJob:
    data = json.loads(text)
    report = data["report"]
    candidates = data["candidates"]
    return ImportJob(
        **{name: data[name] for name in _PLAIN_FIELDS},
        columns=list(data["columns"]),
        read_problems=[_problem(item) for item in data["read_problems"]],
        candidates=None
        if candidates is None
        else [
            Candidate(item["number"], item["where"], dict(item["values"])) for item in candidates
        ],
        report=ImportReport(
            created=list(report["created"]),
            duplicates=list(report["duplicates"]),
            filled={key: list(value) for key, value in report["filled"].items()},
            errors=[_problem(item) for item in report["errors"]],
            warnings=[_problem(item) for item in report["warnings"]],
        ),
    )


class ImportJobs:
    """The imports in progress, one JSON file each under `folder`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, user_id: int, token: str) -> Path:
        if len(token) != _TOKEN_LENGTH or not token.replace("-", "").replace("_", "").isalnum():
            raise NotFound("no such import")
        return self.folder / f"{user_id}-{token}.json"

    def create(self, user_id: int, kind: str, filename: str, text: str) -> ImportJob:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._forget_old()
        job = ImportJob(secrets.token_urlsafe(16), user_id, kind, filename, text)
        self.save(job)
        return job

    def load(self, user_id: int, token: str) -> ImportJob:
        """:raise NotFound: when there is no such import, or it is another user's."""
        path = self._path(user_id, token)
        try:
            job = _from_json(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise NotFound("no such import") from None
        if job.user_id != user_id:
            raise NotFound("no such import")
        return job

    def save(self, job: ImportJob) -> None:
        path = self._path(job.user_id, job.token)
        partial = path.with_suffix(".tmp")
        partial.write_text(_to_json(job), encoding="utf-8")
        partial.chmod(0o600)
        partial.replace(path)

    def delete(self, job: ImportJob) -> None:
        path = self._path(job.user_id, job.token)
        path.unlink(missing_ok=True)
        path.with_suffix(".lock").unlink(missing_ok=True)

    @contextmanager
    def locked(self, user_id: int, token: str) -> Iterator[ImportJob]:
        """The job, held by this request alone until the block ends."""
        path = self._path(user_id, token)
        if not path.exists():
            raise NotFound("no such import")
        with path.with_suffix(".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield self.load(user_id, token)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _forget_old(self) -> None:
        cutoff = time.time() - KEEP_SECONDS
        for path in self.folder.glob("*.json"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink(missing_ok=True)
                    path.with_suffix(".lock").unlink(missing_ok=True)
            except OSError:
                continue  # another request removed it first
