"""The enqueue dialog: demo tasks with parameters, or any Python function.

Everything is checked before anything is queued: an unknown module, a name
that is not callable, arguments that are not JSON. The problem is shown in
the dialog, which stays open.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from core import demo
from core.callables import CallableNotFound, parse_arguments, resolve_callable

__all__ = ["EnqueueDialog", "Plan", "PlannedTask"]


class PlannedTask(NamedTuple):
    fn: Callable[..., Any]
    args: tuple
    kwargs: dict[str, Any]
    label: str
    #: seconds the task may run before it fails as timed out; None: no limit
    timeout: float | None = None

    @classmethod
    def of_demo(cls, task: demo.DemoTask) -> PlannedTask:
        return cls(task.fn, task.args, {}, task.label)


KINDS = ["Mixed demo", "Sleep", "CPU burn", "Random failures", "Progress reporter", "Call a Python function"]


class EnqueueDialog(QDialog):
    """Ask what to queue, on which pool, how many times."""

    def __init__(
        self,
        pool_names: list[str],
        current_pool: int = 0,
        parent: QWidget | None = None,
        check: Callable[[int, PlannedTask], None] | None = None,
    ) -> None:
        """``check(pool_index, task)`` raises TypeError for a task that pool
        cannot take (a process pool: one that cannot be pickled); it is asked
        about the first task before anything is queued."""
        super().__init__(parent)
        self.check = check
        self.setWindowTitle("Enqueue tasks")
        #: what to queue, once accepted
        self.planned: Plan | None = None

        form = QFormLayout()
        self.pool_box = QComboBox()
        self.pool_box.addItems(pool_names)
        self.pool_box.setCurrentIndex(current_pool)
        form.addRow("Pool", self.pool_box)
        self.kind_box = QComboBox()
        self.kind_box.addItems(KINDS)
        form.addRow("Task type", self.kind_box)
        self.count_box = QSpinBox(minimum=1, maximum=1_000_000, value=20)
        self.count_box.setGroupSeparatorShown(True)
        form.addRow("How many", self.count_box)
        # For every kind: a task running longer fails as "timed out" (the
        # pool's per-task time-out), which the window can show and retry.
        self.timeout_box = _seconds(0.0)
        self.timeout_box.setMaximum(86_400.0)
        self.timeout_box.setSpecialValueText("none")
        self.timeout_box.setToolTip("A task still running after this long fails as timed out (0: no limit)")
        form.addRow("Time-out (s)", self.timeout_box)

        self.pages = QStackedWidget()
        self.pages.addWidget(QLabel("Short sleeps, CPU work, progress reporters and failures, mixed."))
        self.sleep_min = _seconds(0.1)
        self.sleep_max = _seconds(0.5)
        self.pages.addWidget(_page(("Shortest (s)", self.sleep_min), ("Longest (s)", self.sleep_max)))
        self.cpu_rounds = QSpinBox(minimum=1, maximum=10_000_000, value=20_000)
        self.pages.addWidget(_page(("Hash rounds", self.cpu_rounds)))
        self.fail_chance = QSpinBox(minimum=0, maximum=100, value=50, suffix=" %")
        self.fail_seconds = _seconds(0.1)
        self.pages.addWidget(
            _page(("Chance to fail", self.fail_chance), ("Work time (s)", self.fail_seconds))
        )
        self.steps = QSpinBox(minimum=1, maximum=10_000, value=10)
        self.step_seconds = _seconds(0.1)
        self.pages.addWidget(_page(("Steps", self.steps), ("Seconds per step", self.step_seconds)))
        self.function_edit = QLineEdit(placeholderText="package.module:function, e.g. math:factorial")
        self.arguments_edit = QPlainTextEdit(
            placeholderText='JSON: [20] or {"x": 1} or {"args": [..], "kwargs": {..}}'
        )
        self.arguments_edit.setMaximumHeight(80)
        self.pages.addWidget(_page(("Function", self.function_edit), ("Arguments", self.arguments_edit)))
        self.kind_box.currentIndexChanged.connect(self.pages.setCurrentIndex)

        self.error_label = QLabel(objectName="errorLabel")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #e5534b;")
        self.error_label.hide()

        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Enqueue")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.pages)
        layout.addWidget(self.error_label)
        layout.addWidget(buttons)

    @property
    def pool_index(self) -> int:
        return self.pool_box.currentIndex()

    @property
    def timeout(self) -> float | None:
        """The time-out chosen, None for none."""
        value = self.timeout_box.value()
        return value if value > 0 else None

    def accept(self) -> None:
        """Queue nothing until every field makes sense."""
        try:
            plan = self.plan()
            if self.check is not None:
                self.check(self.pool_index, next(iter(plan)))
        except (ValueError, TypeError) as exc:
            self.error_label.setText(str(exc))
            self.error_label.show()
            return
        self.error_label.hide()
        self.planned = plan
        super().accept()

    def plan(self) -> Plan:
        """The tasks the fields describe; ValueError says what is wrong."""
        count, timeout = self.count_box.value(), self.timeout
        planned = functools.partial(Plan, count, timeout=timeout)
        kind = KINDS[self.kind_box.currentIndex()]
        if kind == "Mixed demo":
            return planned(lambda i, rng: PlannedTask.of_demo(demo.demo_task(i, rng)))
        if kind == "Sleep":
            low, high = self.sleep_min.value(), self.sleep_max.value()
            if low > high:
                raise ValueError("the shortest sleep is longer than the longest")
            return planned(
                lambda i, rng: PlannedTask(demo.nap, (round(rng.uniform(low, high), 3),), {}, f"sleep #{i}"),
            )
        if kind == "CPU burn":
            rounds = self.cpu_rounds.value()
            return planned(
                lambda i, rng: PlannedTask(demo.burn_cpu, (rounds,), {}, f"cpu {rounds} rounds #{i}"),
            )
        if kind == "Random failures":
            chance, seconds = self.fail_chance.value() / 100, self.fail_seconds.value()
            return planned(
                lambda i, rng: PlannedTask(
                    demo.unlucky, (chance, seconds, rng.randrange(1 << 30)), {}, f"may fail #{i}"
                ),
            )
        if kind == "Progress reporter":
            steps, seconds = self.steps.value(), self.step_seconds.value()
            return planned(
                lambda i, rng: PlannedTask(
                    demo.report_steps, (steps, seconds), {}, f"progress {steps} steps #{i}"
                ),
            )
        name = self.function_edit.text().strip()
        if not name:
            raise ValueError("name the function to call, as package.module:function")
        try:
            fn = resolve_callable(name)
        except CallableNotFound as exc:
            raise ValueError(str(exc)) from None
        args, kwargs = parse_arguments(self.arguments_edit.toPlainText())
        return planned(lambda i, rng: PlannedTask(fn, args, kwargs, f"{name} #{i}"))


class Plan:
    """What the dialog asks to queue: ``len(plan)`` tasks, made as they are
    queued (a million need not be in memory at once), the same ones each
    time it is gone through. ``make(i, rng)`` makes the ``i``-th."""

    def __init__(
        self, count: int, make: Callable[[int, random.Random], PlannedTask], timeout: float | None = None
    ) -> None:
        self._count = count
        self._make = make
        self._timeout = timeout
        self._seed = random.randrange(1 << 32)

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[PlannedTask]:
        make, rng, timeout = self._make, random.Random(self._seed), self._timeout
        if timeout is None:
            return (make(i, rng) for i in range(self._count))
        return (make(i, rng)._replace(timeout=timeout) for i in range(self._count))


def _seconds(value: float) -> QDoubleSpinBox:
    box = QDoubleSpinBox(minimum=0.0, maximum=3600.0, value=value, decimals=3, singleStep=0.05)
    box.setSuffix(" s")
    return box


def _page(*rows: tuple[str, QWidget]) -> QWidget:
    page = QWidget()
    form = QFormLayout(page)
    form.setContentsMargins(0, 0, 0, 0)
    for label, widget in rows:
        form.addRow(label, widget)
    return page
