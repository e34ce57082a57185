"""The server processes' garbage collection policy (portal/gcpolicy.py)."""

import gc
import time
import weakref

import pytest

from portal import gcpolicy


class Node:
    def __init__(self) -> None:
        self.other = self


@pytest.fixture
def policy():
    gcpolicy.uninstall()
    installed = gcpolicy.install(full_every=0.05)
    yield installed
    gcpolicy.uninstall()


def test_the_oldest_generation_waits_for_the_periodic_collection(policy):
    """A cycle that became garbage after reaching the oldest generation survives the young
    collections and goes at the next periodic full collection."""
    assert gc.get_threshold()[2] == gcpolicy.NEVER
    assert gc.get_freeze_count() > 0  # what existed at install is out of the collector's way
    keep = [Node()]
    ref = weakref.ref(keep[0])
    gc.collect(1)
    gc.collect(1)  # survived twice: now in the oldest generation
    keep.clear()  # a cycle: only a full collection frees it
    gc.collect(1)
    before = policy.collections
    deadline = time.monotonic() + 10
    while ref() is not None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert ref() is None and policy.collections > before


def test_install_once_and_uninstall_restores_the_collector(settings):
    gcpolicy.uninstall()
    thresholds = gc.get_threshold()
    settings.GC_FULL_EVERY = 0
    assert gcpolicy.install() is None and gc.get_threshold() == thresholds  # 0: left alone
    first = gcpolicy.install(full_every=30)
    try:
        assert gcpolicy.install(full_every=1) is first
    finally:
        gcpolicy.uninstall()
    assert gc.get_threshold() == thresholds and gc.get_freeze_count() == 0
