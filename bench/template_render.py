"""Template rendering: what the limits of issue 16 cost, and how fast a hostile template stops.

Three figures, each against a baseline in the same run:

1. The five built-in templates (subject and body), rendered with every variable
   filled in, per second: through `outreach.rules.templates.render` (the limits;
   compiled once, as drafts for many contacts render the same text) against a plain
   Jinja `SandboxedEnvironment` with the same settings, compiled once and compiled
   for every render (as the product did before).
2. The time each hostile template takes to be refused, and the error.
3. A normal render's latency while 4 threads render hostile templates without a
   pause (a user posting them to the preview from 4 browser tabs), against the same
   render with nothing else running: with the GIL, a runaway template in one thread
   slows the others; the deadline and the size checks bound by how much.

Usage: python bench/template_render.py [--quick]
Asserts nothing; prints tables and writes bench/results/template_render-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jinja2 import StrictUndefined  # noqa: E402
from jinja2.sandbox import SandboxedEnvironment  # noqa: E402

from bench._benchlib import print_machine, print_table, summary, write_json  # noqa: E402
from outreach.errors import TemplateError  # noqa: E402
from outreach.rules import templates  # noqa: E402

KINDS = ("request", "follow_up", "confirmation", "thank_you", "keep_in_touch")
VALUES = {name: f"sample {name.replace('_', ' ')}" for name in templates.VARIABLES}

HOSTILE = {
    "issue: 'x'*10000, then *10000, then *10": (
        "{% set a='x'*10000 %}{% set b=a*10000 %}{% set c=b*10 %}"
    ),
    "issue: two nested range(10000)": (
        "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}"
    ),
    "repeated squaring": (
        "{% set ns = namespace(n=3) %}{% for i in range(40) %}"
        "{% set ns.n = ns.n * ns.n %}{% endfor %}{{ ns.n }}"
    ),
    "~ doubling": (
        "{% set ns = namespace(s='xx') %}{% for i in range(40) %}"
        "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}"
    ),
    "'%100000000d' % 1": "{{ '%100000000d' % 1 }}",
    "macro calling itself": "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",
    "busy loop (sort 10,000 numbers, 10,000 times)": (
        "{% for i in range(10000) %}{{ range(10000)|sort|join(',')|length }}{% endfor %}"
    ),
}
# The one that runs until the deadline: the worst a thread can be kept busy.
RUNAWAY = HOSTILE["busy loop (sort 10,000 numbers, 10,000 times)"]


def plain_environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


def renders_per_second(render: Any, seconds: float) -> float:
    """How many times `render()` (all five kinds) runs per second, over about `seconds`."""
    count = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        render()
        count += 1
    return count * len(KINDS) / elapsed


def throughput(seconds: float) -> list[list[object]]:
    sources = [templates.load_default(kind) for kind in KINDS]
    plain = plain_environment()
    compiled = [(plain.from_string(s), plain.from_string(b)) for s, b in sources]

    def limited() -> None:
        for subject, body in sources:
            templates.render(subject, body, VALUES)

    def plain_compiled_once() -> None:
        for subject, body in compiled:
            subject.render(VALUES)
            body.render(VALUES)

    def plain_compiled_each_time() -> None:
        for subject, body in sources:
            plain.from_string(subject).render(VALUES)
            plain.from_string(body).render(VALUES)

    limited()  # the cache of compiled templates, as after the first draft
    rates = {
        "with the limits (templates.render)": renders_per_second(limited, seconds),
        "plain SandboxedEnvironment, compiled once": renders_per_second(
            plain_compiled_once, seconds
        ),
        "plain SandboxedEnvironment, compiled each render": renders_per_second(
            plain_compiled_each_time, seconds
        ),
    }
    base = rates["plain SandboxedEnvironment, compiled once"]
    return [
        [name, f"{rate:,.0f}", f"{1e6 / rate:,.0f}", f"{rate / base:.2f}"]
        for name, rate in rates.items()
    ]


def refusals() -> list[list[object]]:
    rows: list[list[object]] = []
    for name, source in HOSTILE.items():
        started = time.perf_counter()
        try:
            templates.render_text(source, VALUES)
            outcome = "rendered!"
        except TemplateError as error:
            outcome = type(error).__name__
        rows.append([name, f"{(time.perf_counter() - started) * 1000:,.1f}", outcome])
    return rows


def normal_latency(samples: int) -> list[float]:
    """From the moment a render is due (after a 10 ms pause) to its end.

    This counts the wait for the GIL after waking up, as a request thread woken by
    its socket would wait, and the render itself.
    """
    subject, body = templates.load_default("request")
    latencies = []
    for _ in range(samples):
        due = time.perf_counter() + 0.01
        time.sleep(0.01)
        templates.render(subject, body, VALUES)
        latencies.append(time.perf_counter() - due)
    return latencies


def under_attack(samples: int, threads: int) -> tuple[list[float], int]:
    stop = threading.Event()
    refused = [0]

    def attacker() -> None:
        while not stop.is_set():
            try:
                templates.render_text(RUNAWAY, VALUES)
            except TemplateError:
                refused[0] += 1

    workers = [threading.Thread(target=attacker, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    time.sleep(0.5)  # every attacker is inside a render
    try:
        return normal_latency(samples), refused[0]
    finally:
        stop.set()
        for worker in workers:
            worker.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    options = parser.parse_args()
    seconds, samples = (1.0, 50) if options.quick else (3.0, 200)
    print_machine()

    rate_rows = throughput(seconds)
    print_table(
        "Built-in templates rendered (subject and body, all five kinds)",
        ["how", "renders/s", "µs each", "vs plain"],
        rate_rows,
    )
    refusal_rows = refusals()
    print_table("Hostile templates refused", ["template", "ms", "error"], refusal_rows)

    alone = summary(normal_latency(samples))
    attacked_values, refused = under_attack(samples, threads=4)
    attacked = summary(attacked_values)
    latency_rows = [
        [name, f"{s['p50'] * 1000:,.2f}", f"{s['p95'] * 1000:,.2f}", f"{s['max'] * 1000:,.2f}"]
        for name, s in (("alone", alone), ("4 threads rendering hostile templates", attacked))
    ]
    print_table(
        "A normal render (the request template), from when it is due, while others run "
        "hostile ones",
        ["case", "p50 ms", "p95 ms", "max ms"],
        latency_rows,
    )
    print(f"hostile renders refused meanwhile: {refused}")
    write_json(
        "template_render",
        {
            "throughput": rate_rows,
            "refusals": refusal_rows,
            "latency_alone": alone,
            "latency_under_attack": attacked,
            "hostile_refused_meanwhile": refused,
        },
    )


if __name__ == "__main__":
    main()
