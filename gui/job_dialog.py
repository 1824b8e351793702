"""The job dialog: what to do with dropped files, on which pool, and how.

Built from the processors' own descriptions (``core.processors``): a field per
option, chosen by the option's kind. Nothing is queued until
``core.jobs.make_spec`` accepts every field; its message is shown in the
dialog, which stays open. What was chosen is remembered (QSettings) for the
next drop.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from PySide6.QtCore import QByteArray, QMimeData, QSettings, Qt, QUrl, Slot
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core.jobs import (
    GENERAL_OPTIONS,
    JobSpec,
    StopRule,
    make_spec,
    path_from_url,
    paths_from_text,
    printable,
    split_patterns,
    writes_files,
)
from core.processors import Option, Processor, registry

__all__ = ["POOL_KINDS", "STOP_RULES", "JobDialog", "PathDropTarget", "paths_from_mime"]

#: The window's pools, in tab order.
POOL_KINDS = ("thread", "process")
POOL_NAMES = {"thread": "Threads", "process": "Processes"}
#: The stop rule's choices, as the combo box shows them.
STOP_RULES = ("Off", "After N failures", "After N % failed")
_INT_LIMIT = 2**31 - 1


def paths_from_mime(mime: QMimeData) -> list[str]:
    """The local paths a drop or the clipboard carries: file URLs (decoded
    from their percent escapes, so names that are not UTF-8 survive), else
    text with one path or ``file:`` URL a line."""
    if mime.hasUrls():
        paths = []
        for url in mime.urls():
            if url.isLocalFile():
                path = path_from_url(
                    bytes(url.toEncoded(QUrl.ComponentFormattingOption.FullyEncoded)).decode()
                )
                if path:
                    paths.append(path)
        if paths:
            return paths
    if mime.hasText():
        return paths_from_text(mime.text())
    return []


class PathDropTarget:
    """Takes drops of files and folders (file URLs, or text with a path a
    line) and hands their paths to ``paths_dropped``; refuses other drops.
    Mixed into a widget class before its Qt base; the widget calls
    ``setAcceptDrops(True)``."""

    def paths_dropped(self, paths: list[str]) -> None:
        raise NotImplementedError

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if paths_from_mime(event.mimeData()):
            event.acceptProposedAction()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802 - Qt override
        if paths_from_mime(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        paths = paths_from_mime(event.mimeData())
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        self.paths_dropped(paths)


class _OptionField:
    """One processor option as a widget: ``value()`` raises ValueError for
    text that is not of the option's kind; empty text means the default."""

    def __init__(self, option: Option, widget: QWidget, get: Callable[[], Any], put: Callable[[Any], None]):
        self.option = option
        self.widget = widget
        self.value = get
        self.set_value = put


def _option_field(option: Option, browse: Callable[[QLineEdit], None]) -> _OptionField:
    """The widget an option's kind calls for: a list for choices, a box for
    a flag, a spin box for a number with a default, and a line of text for a
    number without one (empty means none, which a spin box cannot say)."""
    tip = option.help
    if option.kind == "choice":
        box = QComboBox()
        box.addItems(list(option.choices))
        box.setCurrentText(str(option.default))
        return _OptionField(option, box, box.currentText, lambda v: box.setCurrentText(str(v)))
    if option.kind == "bool":
        check = QCheckBox()
        check.setChecked(bool(option.default))
        return _OptionField(option, check, check.isChecked, lambda v: check.setChecked(bool(v)))
    if option.kind == "int" and option.default is not None:
        spin = QSpinBox()
        spin.setRange(
            int(option.minimum) if option.minimum is not None else -_INT_LIMIT,
            int(option.maximum) if option.maximum is not None else _INT_LIMIT,
        )
        spin.setValue(int(option.default))
        return _OptionField(option, spin, spin.value, lambda v: spin.setValue(int(v)))
    if option.kind == "float" and option.default is not None:
        dspin = QDoubleSpinBox(decimals=3)
        dspin.setRange(
            option.minimum if option.minimum is not None else -1e12,
            option.maximum if option.maximum is not None else 1e12,
        )
        dspin.setValue(float(option.default))
        return _OptionField(option, dspin, dspin.value, lambda v: dspin.setValue(float(v)))
    edit = QLineEdit()
    edit.setToolTip(tip)
    if option.default is not None:
        edit.setText(str(option.default))
    else:
        edit.setPlaceholderText("required" if option.required else "default: none")
    if option.kind in ("int", "float"):
        number = int if option.kind == "int" else float

        def read_number() -> Any:
            text = edit.text().strip()
            if not text:
                return None
            try:
                return number(text)
            except ValueError:
                kind = "a whole number" if option.kind == "int" else "a number"
                raise ValueError(f"option {option.name!r} must be {kind}, not {text!r}") from None

        return _OptionField(option, edit, read_number, lambda v: edit.setText("" if v is None else str(v)))
    if option.kind == "folder":
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(edit, 1)
        button = QPushButton("Browse…")
        button.clicked.connect(lambda: browse(edit))
        layout.addWidget(button)
        return _OptionField(option, row, lambda: edit.text().strip() or None, lambda v: edit.setText(v or ""))
    return _OptionField(
        option, edit, lambda: edit.text() or None, lambda v: edit.setText("" if v is None else str(v))
    )


class JobDialog(PathDropTarget, QDialog):
    """Choose the processor, its options and the pool for some paths; on
    Start, ``job_spec``, ``pool_kind`` and ``workers`` say what to run."""

    def __init__(
        self,
        paths: Iterable[str] = (),
        worker_counts: Mapping[str, int] | None = None,
        parent: QWidget | None = None,
        processors: Mapping[str, Processor] | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("jobDialog")
        self.setWindowTitle("Process files")
        self.setMinimumWidth(640)
        self.processors = dict(processors or registry.processors())
        self.worker_counts = dict(worker_counts or {"thread": 4, "process": os.cpu_count() or 1})
        self.job_spec: JobSpec | None = None
        self._fields: dict[str, _OptionField] = {}
        self._remembered = _Remembered()

        # A list, not text: a file name may hold a newline.
        self.paths_list = QListWidget()
        self.paths_list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.paths_list.setMaximumHeight(120)
        self.paths_list.setToolTip("Drop more files or folders here")
        self.paths_count = QLabel()
        add_files = QPushButton("Add files…")
        add_files.clicked.connect(self._on_add_files_clicked)
        add_folder = QPushButton("Add folder…")
        add_folder.clicked.connect(self._on_add_folder_clicked)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self._on_remove_button_clicked)
        self.setAcceptDrops(True)

        self.processor_box = QComboBox()
        for name, processor in self.processors.items():
            self.processor_box.addItem(name, name)
            self.processor_box.setItemData(
                self.processor_box.count() - 1, processor.description, Qt.ItemDataRole.ToolTipRole
            )
        self.description = QLabel(objectName="processorDescription")
        self.description.setWordWrap(True)
        self.options_box = QWidget()
        self.options_form = QFormLayout(self.options_box)
        self.options_form.setContentsMargins(0, 0, 0, 0)
        self.extra_edit = QLineEdit(placeholderText='JSON object, e.g. {"scale": 2}')
        self.extra_edit.setToolTip("More keyword arguments for the function")
        self.out_dir_edit = QLineEdit()
        self.out_dir_button = QPushButton("Browse…")
        self.out_dir_button.clicked.connect(lambda: self._browse_folder(self.out_dir_edit))
        self.overwrite_box = QCheckBox("Overwrite existing outputs")
        self.overwrite_box.setToolTip(
            "Off: an output whose name is taken gets a numbered name (photo (2).png). "
            "An input is never overwritten."
        )

        self.pool_box = QComboBox()
        for kind in POOL_KINDS:
            self.pool_box.addItem(POOL_NAMES[kind], kind)
        self.workers_box = QSpinBox(minimum=1, maximum=512)
        self.workers_box.setToolTip("The pool is resized to this many workers")
        self.timeout_box = QDoubleSpinBox(minimum=0.0, maximum=7 * 24 * 3600.0, decimals=1, singleStep=1.0)
        self.timeout_box.setSpecialValueText("none")
        self.timeout_box.setSuffix(" s")
        self.timeout_box.setToolTip("A task that runs longer fails with a time-out")
        self.retries_box = QSpinBox(minimum=0, maximum=100)
        self.retries_box.setToolTip("Run a failed task again up to this many times")
        self.stop_box = QComboBox()
        self.stop_box.addItems(list(STOP_RULES))
        self.stop_value = QSpinBox(minimum=1, maximum=1_000_000, value=10)
        self.stop_value.setGroupSeparatorShown(True)
        self.stop_box.currentIndexChanged.connect(self._on_stop_box_current_index_changed)

        self.include_edit = QLineEdit("*")
        self.include_edit.setToolTip("File name patterns to take from folders, e.g. *.jpg *.png")
        self.exclude_edit = QLineEdit(placeholderText="e.g. *.tmp .*")
        self.exclude_edit.setToolTip("File name patterns to leave out")
        self.follow_box = QCheckBox("Follow symbolic links to folders")

        self.error_label = QLabel(objectName="errorLabel")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #e5534b;")
        self.error_label.hide()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.start_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.start_button.setText("Start")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        self._lay_out(add_files, add_folder)
        self.processor_box.currentIndexChanged.connect(self._on_processor_box_current_index_changed)
        self.pool_box.currentIndexChanged.connect(self._on_pool_box_current_index_changed)
        self._remembered.restore(self)
        self._on_processor_box_current_index_changed(self.processor_box.currentIndex())
        self._on_stop_box_current_index_changed(self.stop_box.currentIndex())
        self.set_paths(paths)

    def _lay_out(self, add_files: QPushButton, add_folder: QPushButton) -> None:
        inputs = QGroupBox("Inputs")
        buttons = QVBoxLayout()
        buttons.addWidget(add_files)
        buttons.addWidget(add_folder)
        buttons.addWidget(self.remove_button)
        buttons.addWidget(self.paths_count)
        buttons.addStretch(1)
        row = QHBoxLayout(inputs)
        row.addWidget(self.paths_list, 1)
        row.addLayout(buttons)

        what = QGroupBox("What to do")
        form = QFormLayout(what)
        form.addRow("Processor", self.processor_box)
        form.addRow("", self.description)
        form.addRow(self.options_box)
        form.addRow("More options", self.extra_edit)
        out_dir = QHBoxLayout()
        out_dir.addWidget(self.out_dir_edit, 1)
        out_dir.addWidget(self.out_dir_button)
        self.out_dir_label = QLabel("Output folder")
        form.addRow(self.out_dir_label, out_dir)
        form.addRow("", self.overwrite_box)
        self._what_form = form

        how = QGroupBox("How")
        how_form = QFormLayout(how)
        how_form.addRow("Pool", self.pool_box)
        how_form.addRow("Workers", self.workers_box)
        how_form.addRow("Time-out per task", self.timeout_box)
        how_form.addRow("Retries", self.retries_box)
        stop = QHBoxLayout()
        stop.addWidget(self.stop_box, 1)
        stop.addWidget(self.stop_value)
        how_form.addRow("Stop rule", stop)

        which = QGroupBox("Which files in folders")
        which_form = QFormLayout(which)
        which_form.addRow("Include", self.include_edit)
        which_form.addRow("Exclude", self.exclude_edit)
        which_form.addRow("", self.follow_box)

        side = QHBoxLayout()
        side.addWidget(how, 1)
        side.addWidget(which, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(inputs)
        layout.addWidget(what)
        layout.addLayout(side)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)

    # ------------------------------------------------------------- inputs

    @property
    def paths(self) -> list[str]:
        items = (self.paths_list.item(i) for i in range(self.paths_list.count()))
        return [os.fsdecode(bytes(item.data(Qt.ItemDataRole.UserRole))) for item in items]

    def set_paths(self, paths: Iterable[str]) -> None:
        self.paths_list.clear()
        self.add_paths(paths)

    def add_paths(self, paths: Iterable[str]) -> None:
        """Add paths not in the list yet (the expansion removes the
        duplicates that only show once folders are walked)."""
        known = set(self.paths)
        for path in paths:
            if path and path not in known:
                known.add(path)
                item = QListWidgetItem(printable(path))
                # As bytes: a QString cannot hold the surrogate escapes of a
                # name that is not UTF-8, a QByteArray holds the name as it is.
                item.setData(Qt.ItemDataRole.UserRole, QByteArray(os.fsencode(path)))
                item.setToolTip(printable(path))
                self.paths_list.addItem(item)
        self._show_count()

    def _show_count(self) -> None:
        count = self.paths_list.count()
        self.paths_count.setText(f"{count:,} path{'s' if count != 1 else ''}")

    @Slot()
    def _on_remove_button_clicked(self) -> None:
        for item in self.paths_list.selectedItems():
            self.paths_list.takeItem(self.paths_list.row(item))
        self._show_count()

    def paths_dropped(self, paths: list[str]) -> None:
        self.add_paths(paths)

    @Slot()
    def _on_add_files_clicked(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Add files")
        self.add_paths(files)

    @Slot()
    def _on_add_folder_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder")
        if folder:
            self.add_paths([folder])

    def _browse_folder(self, edit: QLineEdit) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a folder", edit.text())
        if folder:
            edit.setText(folder)

    # ---------------------------------------------------------- processor

    @property
    def processor(self) -> Processor:
        return self.processors[self.processor_box.currentData()]

    def set_processor(self, name: str) -> None:
        index = self.processor_box.findData(name)
        if index < 0:
            raise KeyError(f"no processor named {name!r}; known: {', '.join(self.processors)}")
        self.processor_box.setCurrentIndex(index)

    @property
    def option_fields(self) -> dict[str, QWidget]:
        """The widget of each of the processor's own options, by name (the
        output folder, overwrite and time-out have fields of the dialog)."""
        return {name: field.widget for name, field in self._fields.items()}

    def set_option(self, name: str, value: Any) -> None:
        self._fields[name].set_value(value)

    @Slot(int)
    def _on_processor_box_current_index_changed(self, _index: int) -> None:
        processor = self.processor
        self.description.setText(processor.description)
        while self.options_form.rowCount():
            self.options_form.removeRow(0)
        self._fields.clear()
        remembered = self._remembered.options(processor.name)
        for option in processor.options:
            if option.name in GENERAL_OPTIONS:
                continue
            field = _option_field(option, self._browse_folder)
            if option.name in remembered:
                try:
                    field.set_value(remembered[option.name])
                except (TypeError, ValueError):
                    pass  # an old or hand-edited value: keep the default
            field.widget.setToolTip(option.help)
            label = QLabel(option.name.replace("_", " ").capitalize() + (" *" if option.required else ""))
            label.setToolTip(option.help)
            self.options_form.addRow(label, field.widget)
            self._fields[option.name] = field
        self.options_box.setVisible(bool(self._fields))
        self._what_form.setRowVisible(self.extra_edit, processor.extra_options)
        takes_out_dir = any(option.name == "out_dir" for option in processor.options)
        writes = writes_files(processor)
        self.out_dir_edit.setEnabled(takes_out_dir)
        self.out_dir_button.setEnabled(takes_out_dir)
        self.out_dir_label.setText("Output folder *" if writes else "Output folder")
        self.out_dir_edit.setPlaceholderText(
            "required: where the outputs go"
            if writes
            else "{out_dir} in the template (default: each input's folder)"
            if takes_out_dir
            else f"the {processor.name} processor writes no files"
        )
        self.overwrite_box.setEnabled(writes)
        if not writes:
            self.overwrite_box.setChecked(False)
        self.set_pool(processor.pool)
        self.pool_box.setToolTip(f"The {processor.name} processor prefers the {processor.pool} pool")

    # ----------------------------------------------------------------- how

    @property
    def pool_kind(self) -> str:
        return self.pool_box.currentData()

    @property
    def pool_index(self) -> int:
        return POOL_KINDS.index(self.pool_kind)

    @property
    def workers(self) -> int:
        return self.workers_box.value()

    def set_pool(self, kind: str) -> None:
        self.pool_box.setCurrentIndex(POOL_KINDS.index(kind))
        self._on_pool_box_current_index_changed(self.pool_box.currentIndex())

    @Slot(int)
    def _on_pool_box_current_index_changed(self, _index: int) -> None:
        self.workers_box.setValue(self.worker_counts.get(self.pool_kind, 1))

    def set_stop_rule(self, kind: int, value: int) -> None:
        """``kind`` indexes ``STOP_RULES`` (0 is off)."""
        self.stop_box.setCurrentIndex(kind)
        self.stop_value.setValue(value)

    @Slot(int)
    def _on_stop_box_current_index_changed(self, index: int) -> None:
        self.stop_value.setEnabled(index != 0)
        self.stop_value.setSuffix(" %" if index == 2 else "")
        self.stop_value.setMaximum(100 if index == 2 else 1_000_000)

    def stop_rule(self) -> StopRule:
        kind, value = self.stop_box.currentIndex(), self.stop_value.value()
        if kind == 1:
            return StopRule(max_failures=value)
        if kind == 2:
            return StopRule(max_failed_percent=float(value))
        return StopRule()

    # -------------------------------------------------------------- accept

    def build_spec(self) -> JobSpec:
        """The job the fields describe; ``ValueError`` says what is wrong."""
        processor = self.processor
        options = {name: field.value() for name, field in self._fields.items()}
        options = {name: value for name, value in options.items() if value is not None}
        if processor.extra_options and self.extra_edit.text().strip():
            try:
                extra = json.loads(self.extra_edit.text())
            except json.JSONDecodeError as exc:
                raise ValueError(f"more options: not valid JSON ({exc.msg}, column {exc.colno})") from None
            if not isinstance(extra, dict):
                raise ValueError('more options: give a JSON object, e.g. {"scale": 2}')
            options.update(extra)
        out_dir = self.out_dir_edit.text().strip() if self.out_dir_edit.isEnabled() else ""
        timeout = self.timeout_box.value() or None
        return make_spec(
            processor,
            self.paths,
            options,
            out_dir=out_dir or None,
            overwrite=self.overwrite_box.isEnabled() and self.overwrite_box.isChecked(),
            include=split_patterns(self.include_edit.text()),
            exclude=split_patterns(self.exclude_edit.text()),
            follow_symlinks=self.follow_box.isChecked(),
            timeout=timeout,
            retries=self.retries_box.value(),
            stop_rule=self.stop_rule(),
        )

    def accept(self) -> None:
        """Queue nothing until every field makes sense."""
        try:
            self.job_spec = self.build_spec()
        except ValueError as exc:
            self.show_error(str(exc))
            return
        self.error_label.hide()
        self._remembered.save(self)
        super().accept()

    def show_error(self, message: str) -> None:
        self.error_label.setText(message)
        self.error_label.show()

    @property
    def error(self) -> str:
        """The problem shown, or empty."""
        return self.error_label.text() if not self.error_label.isHidden() else ""


class _Remembered:
    """The dialog's last good choices, in QSettings under ``job_dialog/``.
    Overwrite and the stop rule are deliberately not remembered: replacing
    files and giving up early are chosen for one job at a time."""

    def __init__(self) -> None:
        self.store = QSettings()

    def options(self, processor: str) -> dict[str, Any]:
        try:
            value = json.loads(str(self.store.value(f"job_dialog/options/{processor}", "{}")))
        except json.JSONDecodeError:
            return {}
        return value if isinstance(value, dict) else {}

    def restore(self, dialog: JobDialog) -> None:
        value = self.store.value
        name = str(value("job_dialog/processor", ""))
        if name in dialog.processors:
            dialog.set_processor(name)
        dialog.out_dir_edit.setText(str(value("job_dialog/out_dir", "")))
        dialog.include_edit.setText(str(value("job_dialog/include", "*")))
        dialog.exclude_edit.setText(str(value("job_dialog/exclude", "")))
        dialog.follow_box.setChecked(str(value("job_dialog/follow_symlinks", "false")).lower() == "true")
        try:
            dialog.retries_box.setValue(int(value("job_dialog/retries", 0)))
            dialog.timeout_box.setValue(float(value("job_dialog/timeout", 0.0)))
            dialog.set_stop_rule(
                int(value("job_dialog/stop_rule", 0)) % len(STOP_RULES),
                int(value("job_dialog/stop_value", 10)),
            )
        except (TypeError, ValueError):
            pass

    def save(self, dialog: JobDialog) -> None:
        put = self.store.setValue
        put("job_dialog/processor", dialog.processor.name)
        options = {name: field.value() for name, field in dialog._fields.items()}
        put(f"job_dialog/options/{dialog.processor.name}", json.dumps(options, default=str))
        if dialog.out_dir_edit.isEnabled():
            put("job_dialog/out_dir", dialog.out_dir_edit.text().strip())
        put("job_dialog/include", dialog.include_edit.text())
        put("job_dialog/exclude", dialog.exclude_edit.text())
        put("job_dialog/follow_symlinks", "true" if dialog.follow_box.isChecked() else "false")
        put("job_dialog/retries", dialog.retries_box.value())
        put("job_dialog/timeout", dialog.timeout_box.value())
