"""`cublab serve` starts with the cyclic garbage collector paused (serve._collector_paused): the warm-up
restarts it once the application is built, and a start-up that fails restarts it at once."""

from __future__ import annotations

import gc

import pytest

from cublab import serve


@pytest.fixture(autouse=True)
def _collector_running():
    assert gc.isenabled()
    yield
    gc.enable()
    gc.unfreeze()


def test_a_refused_start_up_leaves_the_collector_running() -> None:
    with pytest.raises(serve.Refused):
        serve.serve(log_format="xml")
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_the_warm_up_restarts_the_collector_even_when_it_fails() -> None:
    class Failing:
        def warm_up(self) -> None:
            raise RuntimeError("boom")

    with serve._collector_paused() as resume:
        assert not gc.isenabled()
    assert not gc.isenabled()  # until the warm-up is done
    with pytest.raises(RuntimeError):
        serve._warm_up(Failing(), resume)  # type: ignore[arg-type]
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0  # what start-up made is left out of later collections


def test_a_collector_paused_by_the_caller_stays_paused() -> None:
    gc.disable()
    with serve._collector_paused() as resume:
        pass
    resume()
    assert not gc.isenabled()
