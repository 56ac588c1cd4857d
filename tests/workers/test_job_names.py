"""The queues name each job by its dotted path: every name must lead to a job function."""

from __future__ import annotations

import importlib

import pytest

from workers import queues


@pytest.mark.parametrize(
    "name",
    [
        queues.SEND_MESSAGE_JOB,
        queues.RECONCILE_SENT_JOB,
        queues.RUN_CYCLE_JOB,
        queues.SWEEP_OUTBOX_JOB,
    ],
)
def test_a_job_name_leads_to_a_function_in_workers_jobs(name: str) -> None:
    module_name, _, function_name = name.rpartition(".")
    assert module_name == "workers.jobs"
    assert callable(getattr(importlib.import_module(module_name), function_name))
