"""How many real delivery reports Outreach recognises, beside Mailman's flufl.bounce (issue 15).

Reads every sample in tests/corpus/public (real reports from public test corpora; see
SOURCES.md there) and prints, per sender family and overall:

- ours alone: `outreach classify` (classify.read_message) with flufl.bounce switched off;
- flufl.bounce: its `all_failures` finds at least one failed recipient;
- either: ours alone or flufl.bounce (what the two together can reach);
- ours: Outreach as shipped (our readers, flufl.bounce asked where they find nothing);
- recipient: of the reports that name a failed recipient, how often Outreach as shipped
  gives one of them (and flufl.bounce, for comparison);
- read as a reply: bounces Outreach reads as a person's reply (must be 0).

    .venv/bin/python bench/bounce_recognition.py            # the table, and JSON results
    .venv/bin/python bench/bounce_recognition.py --markdown # as docs/bounce-recognition.md has it
    .venv/bin/python bench/bounce_recognition.py --holdout  # reports the readers were not tuned on
"""

from __future__ import annotations

import argparse
import email
import sys
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from _benchlib import write_json  # noqa: E402
from flufl.bounce import all_failures  # noqa: E402

from outreach.reading.classify import InboundKind, read_message  # noqa: E402
from tests.public_corpus import HOLDOUT, PUBLIC, Sample, samples  # noqa: E402

ARRIVAL = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
COLUMNS = ("ours alone", "flufl.bounce", "either", "ours", "recipient ours", "recipient flufl")


@contextmanager
def without_library() -> Iterator[None]:
    with mock.patch("outreach.reading.bounces.library_failures", return_value=None):
        yield


def flufl_recipients(raw: bytes) -> set[str]:
    try:
        temporary, permanent = all_failures(email.message_from_bytes(raw))
    except Exception:  # flufl.bounce raises on some headers: that counts as nothing found
        return set()
    return {item.decode("utf-8", "replace").lower() for item in temporary | permanent}


def measure(sample: Sample) -> dict[str, bool]:
    raw = sample.path.read_bytes()
    with without_library():
        alone = read_message(raw, frozenset(), ARRIVAL)
    shipped = read_message(raw, frozenset(), ARRIVAL)
    library = flufl_recipients(raw)
    ours_alone = alone.kind is InboundKind.BOUNCE
    recipient = shipped.bounce.failed_recipient if shipped.bounce else ""
    return {
        "ours alone": ours_alone,
        "flufl.bounce": bool(library),
        "either": ours_alone or bool(library),
        "ours": shipped.kind is InboundKind.BOUNCE,
        "recipient ours": recipient in sample.recipients,
        "recipient flufl": bool(library & sample.recipients),
        "reply": shipped.kind is InboundKind.REPLY,
    }


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}% ({part}/{whole})" if whole else "-"


def table(folder: Path = PUBLIC) -> tuple[list[str], list[list[str]], list[str]]:
    by_family: dict[str, list[tuple[Sample, dict[str, bool]]]] = defaultdict(list)
    for sample in samples(folder):
        if sample.kind == "bounce":
            by_family[sample.family].append((sample, measure(sample)))
    rows: list[list[str]] = []
    everything = [item for family in sorted(by_family) for item in by_family[family]]
    missed = [
        f"{sample.name}: read as {'a reply' if result['reply'] else 'not a bounce'}"
        for sample, result in everything
        if not result["ours"]
    ] + [
        f"{sample.name}: failed recipient not found"
        for sample, result in everything
        if result["ours"] and sample.recipients and not result["recipient ours"]
    ]
    for family, items in [*sorted(by_family.items()), ("all", everything)]:
        named = [(s, r) for s, r in items if s.recipients]
        row = [family, str(len(items))]
        for column in COLUMNS[:4]:
            row.append(percent(sum(r[column] for _, r in items), len(items)))
        for column in COLUMNS[4:]:
            row.append(percent(sum(r[column] for _, r in named), len(named)))
        row.append(str(sum(r["reply"] for _, r in items)))
        rows.append(row)
    headers = ["family", "reports", *COLUMNS, "read as a reply"]
    return headers, rows, missed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument(
        "--holdout", action="store_true", help="measure tests/corpus/public/holdout instead"
    )
    arguments = parser.parse_args()
    markdown = arguments.markdown
    headers, rows, missed = table(HOLDOUT if arguments.holdout else PUBLIC)
    if markdown:
        print("| " + " | ".join(headers) + " |")
        print("|" + "---|" * len(headers))
        for row in rows:
            cells = [f"**{cell}**" if row[0] == "all" else cell for cell in row]
            print("| " + " | ".join(cells) + " |")
    else:
        widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]
        for row in [headers, *rows]:
            print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    print()
    print("Misses of Outreach as shipped:" if missed else "Every bounce and recipient found.")
    for line in missed:
        print(f"- {line}")
    if not markdown:
        write_json(
            "bounce_recognition_holdout" if arguments.holdout else "bounce_recognition",
            {"columns": headers, "rows": rows, "not_recognised": missed},
        )


if __name__ == "__main__":
    main()
