"""PoolView under a flood of events: the panels take each tick's changes in
turns of their own, see every event the pool sent while the buffer holds
out, and converge on the pool's records when it did not."""

from __future__ import annotations

import threading
import time
from functools import partial

import pytest

from core import ThreadPool
from core.signals import PoolSignals
from gui import pool_view
from gui.pool_view import PoolView

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


def _settled(view: PoolView) -> bool:
    """Nothing waits: not in the buffer, not in the view's turns."""
    return view.signals.backlog == 0 and not view._steps and not view.signals.held


def test_a_flood_of_events_is_taken_in_short_turns_and_every_panel_sees_all(qtbot, view, monkeypatch):
    pool = view.pool
    handed: list[int] = []
    view.signals.changes_batched.connect(lambda changes: handed.append(changes.count))
    # Per panel: the tasks of every hand-over it took, and whether another
    # panel's turn ran in between (they take turns, not one long turn).
    seen = {panel: set() for panel in view._fed}
    busy: list[object] = []
    for panel in view._fed:
        original = panel.apply_changes

        def counting(changes, panel=panel, original=original):
            busy.append(panel)
            seen[panel].update(changes.tasks)
            original(changes)

        monkeypatch.setattr(panel, "apply_changes", counting)

    # Submitted from the GUI thread: no tick runs meanwhile, so three events
    # per task pile up far beyond what one tick takes.
    futures = [pool.submit(_fail_some, i) for i in range(TASKS)]
    for future in futures:
        future.exception(timeout=WAIT / 1000)
    assert view.signals.backlog > view.signals.catch_up

    model = view.tasks.model
    qtbot.waitUntil(lambda: _settled(view) and model.finished_count + model.not_listed == TASKS, timeout=WAIT)
    assert view.signals.dropped == 0
    # In several hand-overs (the flood is more than one may take), each capped...
    assert sum(handed) > view.signals.max_batch >= max(handed)
    assert busy[: len(view._fed)] == list(view._fed)  # ...each panel in its turn
    ids = {f.task_id for f in futures}
    for panel, tasks in seen.items():
        assert ids <= tasks, panel
    # Every task in every panel, in its final state. The busy table listed
    # only part of each hand-over, and says how many it left out.
    assert model.unfinished_count == 0
    assert all(row.state.value == row.task.state.value for row in model.rows())
    if model.not_listed:  # (a busy view updates its counts about once a second)
        qtbot.waitUntil(lambda: f"{model.not_listed:,} more not listed" in view.tasks.count_label.text())
    assert view.inspector.failure_count == TASKS // 100 == pool.stats().failed
    assert view.stream.history.total == TASKS and not view.stream.history.running
    assert view.events_not_shown == 0
    assert "not shown" not in view.tasks.count_label.text()


def _slow(original, changes):
    time.sleep(0.02)  # a panel far slower than a real one: the window falls behind
    original(changes)


def test_after_lost_events_every_panel_converges_on_the_pool(qtbot, monkeypatch):
    """A buffer far too small for a window that falls behind: events are
    lost, and once the pool is idle no row stays queued or running, no bar
    runs, and the inspector's failures add up to the pool's."""
    monkeypatch.setattr(pool_view, "PoolSignals", partial(PoolSignals, buffer_size=1_500))
    pool = ThreadPool(2)
    view = PoolView(pool, "Threads")
    qtbot.addWidget(view)
    try:
        view.resize(1200, 800)
        view.build_panels()
        view.show()
        monkeypatch.setattr(view.stream, "apply_changes", partial(_slow, view.stream.apply_changes))

        def submit() -> None:
            for start in range(0, 30_000, 500):
                futures = [pool.submit(_fail_some, i) for i in range(start, start + 500)]
                futures[-1].exception(timeout=10)

        feeder = threading.Thread(target=submit)
        feeder.start()
        qtbot.waitUntil(lambda: not feeder.is_alive(), timeout=WAIT)
        feeder.join()
        assert pool.stats().done + pool.stats().failed == 30_000

        qtbot.waitUntil(lambda: _settled(view) and not view._resync_timer.isActive(), timeout=WAIT)
        assert view.events_not_shown > 10_000  # the test's premise: much was lost
        model = view.tasks.model
        stuck = [row for row in model.rows() if not row.state.finished]
        assert stuck == [] and model.unfinished_count == 0
        assert not view.stream.history.running
        inspector = view.inspector
        assert inspector.failure_count > 0
        assert inspector.failure_count + inspector.unseen_failure_count == pool.stats().failed
        # Failures with a seen submission were filed from their records.
        kept = [f for g in inspector.groups for f in g.failures]
        assert all(f.task is None or f.task.state.value == "failed" for f in kept)
        assert f"{view.events_not_shown:,} events not shown" in view.tasks.count_label.text()
        if inspector.unseen_failure_count:
            assert "not shown" in inspector.summary_label.text()
    finally:
        view.close_signals()
        pool.shutdown(wait=True, cancel_futures=True)


def test_a_trickle_of_events_reaches_every_panel_on_each_tick(qtbot, view):
    pool = view.pool
    futures = [pool.submit(_fail_some, i) for i in range(1, 50)]
    for future in futures:
        future.result(timeout=WAIT / 1000)

    # The tasks panel takes a tick's changes first, the others in the turns after.
    qtbot.waitUntil(lambda: view.tasks.model.finished_count == 49 and _settled(view), timeout=WAIT)
    assert view.signals.dropped == 0
    assert len(view.stream.bars(include_running=False)) == 49
