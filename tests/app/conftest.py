"""Fixtures of the app tier: the local ConfigHub (support/confighub_fake.py), started once per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.confighub_fake import BASE, FakeConfigHub, approve_or_apply_calls, seed_confighub


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeConfigHub]:
    """One fake ConfigHub (real HTTP on 127.0.0.1, a free port) per module; cublab must never approve, apply or delete."""
    hub = FakeConfigHub().start()
    yield hub
    hub.stop()
    assert approve_or_apply_calls(hub) == [], "cublab called approve, apply or delete"


@pytest.fixture
def hub(fake: FakeConfigHub) -> Iterator[FakeConfigHub]:
    """The module's fake, listening, emptied, with mw-staging/handler (BASE) and its proposals space seeded.

    A test may kill it (a fault that dies); it is started again for the next test."""
    if not fake.alive:
        fake.wait_dead()
        fake.start()
    fake.reset()
    seed_confighub(fake, "mw-staging", "handler", BASE, "staging")
    yield fake
    if not fake.alive:
        fake.wait_dead()
        fake.start()
