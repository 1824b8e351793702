"""PoolSignals: pool events become Qt signals on the thread that owns it."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import QCoreApplication, QThread

from core import EventKind, ThreadPool, report_progress
from core.signals import PoolSignals


@pytest.fixture
def pool():
    pool = ThreadPool(workers=3)
    yield pool
    pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture
def signals(qtbot, pool):
    signals = PoolSignals(pool, interval_ms=10)
    yield signals
    signals.close()


def _finish_with_progress(x):
    report_progress(0.5, "half")
    return x * 2


def test_events_arrive_in_batches_on_the_gui_thread(qtbot, pool, signals):
    gui_thread = QThread.currentThread()
    batches: list[list] = []
    threads: set = set()

    def on_batch(batch):
        threads.add(QThread.currentThread())
        batches.append(batch)

    signals.events_batched.connect(on_batch)
    futures = [pool.submit(_finish_with_progress, i) for i in range(200)]
    assert [f.result(timeout=10) for f in futures] == [i * 2 for i in range(200)]

    def all_done():
        kinds = [e.kind for batch in batches for e in batch]
        assert kinds.count(EventKind.TASK_DONE) == 200

    qtbot.waitUntil(all_done, timeout=5000)
    assert threads == {gui_thread}
    # Batched: far fewer deliveries than events.
    assert len(batches) < 200
    events = [e for batch in batches for e in batch]
    assert sum(e.kind is EventKind.TASK_PROGRESS for e in events) == 200


def test_per_kind_signals_are_emitted_for_connected_receivers(qtbot, pool, signals):
    def boom():
        raise ValueError("no luck")

    with qtbot.waitSignal(signals.task_finished, timeout=5000) as finished:
        pool.submit(abs, -3)
    assert finished.args[0].payload == 3

    with qtbot.waitSignal(signals.task_failed, timeout=5000) as failed:
        pool.submit(boom)
    error = failed.args[0].payload
    assert error.type_name == "ValueError"
    assert "no luck" in error.traceback

    with qtbot.waitSignal(signals.worker_changed, timeout=5000) as changed:
        pool.add_workers(1)
    assert changed.args[0].kind is EventKind.WORKER_STARTED


def test_stats_changed_reports_live_counters(qtbot, pool, signals):
    futures = [pool.submit(abs, i) for i in range(50)]
    for f in futures:
        f.result(timeout=10)

    def counted(stats):
        return stats.done == 50

    with qtbot.waitSignal(signals.stats_changed, timeout=5000, check_params_cb=counted):
        pass


def test_task_callbacks_run_on_the_gui_thread(qtbot, pool, signals):
    gui_thread = threading.get_ident()
    seen: list[tuple[str, int]] = []
    pool.apply_async(abs, (-5,), callback=lambda v: seen.append(("ok", threading.get_ident())))
    pool.apply_async(
        int, ("not a number",), error_callback=lambda e: seen.append(("error", threading.get_ident()))
    )
    qtbot.waitUntil(lambda: len(seen) == 2, timeout=5000)
    assert {kind for kind, _ in seen} == {"ok", "error"}
    assert {thread for _, thread in seen} == {gui_thread}


def test_a_storm_is_drained_in_capped_ticks(qtbot, pool):
    signals = PoolSignals(pool, interval_ms=10, max_batch=500)
    try:
        sizes: list[int] = []
        signals.events_batched.connect(lambda batch: sizes.append(len(batch)))
        futures = list(pool.map(abs, range(3000), chunksize=1))
        assert len(futures) == 3000
        qtbot.waitUntil(lambda: sum(sizes) >= 9000, timeout=10000)
        assert max(sizes) <= 500
        assert sum(sizes) == 9000  # every event handed over
        assert signals.dropped == 0  # and none counted as lost on the way
    finally:
        signals.close()


def test_close_detaches_from_the_pool(qtbot, pool):
    signals = PoolSignals(pool, interval_ms=10)
    assert pool.callback_sink is not None
    signals.close()
    assert pool.callback_sink is None
    # Callbacks run in the worker again once detached.
    ran = threading.Event()
    pool.apply_async(abs, (1,), callback=lambda v: ran.set()).get(5)
    assert ran.wait(5)
    QCoreApplication.processEvents()
