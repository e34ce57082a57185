"""Background tasks never run on the request thread in the embedded mode."""

import threading

import pytest
from celery import shared_task
from django.db import transaction

from portal import background

ran_on: list[str] = []


@shared_task
def record_thread():
    ran_on.append(threading.current_thread().name)


@pytest.mark.django_db(transaction=True)
def test_thread_mode_runs_after_commit_off_the_calling_thread(settings):
    settings.TASKS_MODE = "thread"
    ran_on.clear()
    with transaction.atomic():
        background.enqueue(record_thread)
        assert ran_on == []  # nothing runs before the commit
    background.drain()
    assert len(ran_on) == 1
    assert ran_on[0] != threading.current_thread().name
    assert ran_on[0].startswith("portal-task")


@pytest.mark.django_db(transaction=True)
def test_rolled_back_transaction_queues_nothing(settings):
    settings.TASKS_MODE = "thread"
    ran_on.clear()
    with pytest.raises(RuntimeError), transaction.atomic():
        background.enqueue(record_thread)
        raise RuntimeError("rollback")
    background.drain()
    assert ran_on == []
