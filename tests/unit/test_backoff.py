"""The poller leaves a failing mailbox alone for longer and longer, and forgets once it works."""

from __future__ import annotations

from outreach.polling import Backoff


def test_waits_double_from_five_seconds_up_to_five_minutes() -> None:
    backoff = Backoff()
    waits = [backoff.failed(now=0.0) for _ in range(8)]
    assert waits == [5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 300.0, 300.0]


def test_a_failing_mailbox_is_not_due_until_its_wait_has_passed() -> None:
    backoff = Backoff()
    assert backoff.due(100.0)
    backoff.failed(now=100.0)
    assert not backoff.due(104.9)
    assert backoff.due(105.0)


def test_jitter_spreads_the_wait_and_success_starts_over() -> None:
    backoff = Backoff()
    assert backoff.failed(now=0.0, jitter=0.8) == 4.0
    assert backoff.failed(now=0.0, jitter=1.2) == 12.0
    backoff.succeeded()
    assert backoff.due(0.0)
    assert backoff.failed(now=0.0) == 5.0
