"""PoolView's storm pacing: under a flood of events the panels take turns,
and once it passes every panel has seen every event the view took."""

from __future__ import annotations

import pytest

from core import ThreadPool
from gui.pool_view import STORM_KEEP, PoolView

WAIT = 30_000
TASKS = 12_000


def _fail_some(i: int) -> int:
    if i % 100 == 0:
        raise ValueError(f"bad item {i}")
    return i


@pytest.fixture
def view(qtbot):
    pool = ThreadPool(2)
    view = PoolView(pool, "Threads")
    qtbot.addWidget(view)
    view.resize(1200, 800)
    view.build_panels()
    view.show()
    qtbot.waitExposed(view)
    yield view
    view.close_signals()
    pool.shutdown(wait=True, cancel_futures=True)


def test_a_flood_of_events_is_paced_and_every_panel_catches_up(qtbot, view, monkeypatch):
    pool = view.pool
    paced_ticks = []
    view.signals.stats_changed.connect(lambda _: paced_ticks.append(view.storm))
    taken = []
    view.signals.events_batched.connect(lambda batch: taken.append(len(batch)))
    applied = dict.fromkeys(view._fed, 0)
    for panel in view._fed:
        original = panel.apply_events

        def counting(batch, panel=panel, original=original):
            applied[panel] += len(batch)
            original(batch)

        monkeypatch.setattr(panel, "apply_events", counting)

    # Submitted from the GUI thread: no tick runs meanwhile, so three events
    # per task pile up far beyond what one tick takes.
    futures = [pool.submit(_fail_some, i) for i in range(TASKS)]
    for future in futures:
        future.exception(timeout=WAIT / 1000)
    assert view.signals.backlog > STORM_KEEP

    qtbot.waitUntil(lambda: view.storm, timeout=WAIT)
    assert view.signals.max_batch < 20_000  # a tick takes less while pacing
    qtbot.waitUntil(lambda: not view.storm and view.signals.backlog == 0, timeout=WAIT)
    assert paced_ticks.count(True) > 4  # the panels took turns for a while
    assert view.signals.max_batch == 20_000  # back to calm ticks

    # The oldest of the pile were skipped (and counted), the newest shown...
    assert view.signals.dropped > 0
    assert sum(taken) + view.signals.dropped >= 3 * TASKS  # and a few worker events
    assert view.tasks.model.find(futures[-1].task_id).state.value == "done"
    # ...and every panel was given every event the view took.
    assert set(applied.values()) == {sum(taken)}


def test_a_trickle_of_events_reaches_every_panel_on_each_tick(qtbot, view):
    pool = view.pool
    futures = [pool.submit(_fail_some, i) for i in range(1, 50)]
    for future in futures:
        future.result(timeout=WAIT / 1000)

    qtbot.waitUntil(lambda: view.tasks.model.finished_count == 49, timeout=WAIT)
    assert not view.storm
    assert len(view.stream.bars(include_running=False)) == 49
