"""The file processors on real files: every processor, every bad input,
output safety, hostile file names, and runs inside real pools."""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import stat
import sys
import threading
import time
import tracemalloc

import psutil
import pytest
from job_test_tools import run_to_end
from permission_probe import skip_unless_modes_are_enforced
from PIL import Image

from core import EventKind, ProcessPool, TaskCancelled, TaskTimeout, ThreadPool
from core.jobs import InputState, Job, make_spec
from core.processors import (
    CommandFailed,
    InputError,
    OutputError,
    atomic_write,
    check_input,
    checksum,
    command,
    compress,
    get,
    load_errors,
    output_path,
    outputs,
    processors,
    python_call,
    text_stats,
    thumbnail,
)

HOSTILE_NAMES = [
    "with space.txt",
    'quote\'s "double".txt',
    "x; rm -rf ~.txt",
    "$(touch pwned).txt",
    "`touch pwned`.txt",
    "new\nline.txt",
    "-starts-with-dash.txt",
    os.fsdecode(b"not utf-8 \xff\xfe.txt"),
]


def write(path, data: bytes) -> str:
    with open(path, "wb") as handle:
        handle.write(data)
    return os.fspath(path)


# ---------------------------------------------------------------- registry


def test_registry_has_the_built_ins_in_order():
    assert list(processors())[:6] == ["checksum", "thumbnail", "compress", "text-stats", "command", "python"]
    assert get("text-stats") is text_stats.PROCESSOR
    for processor in processors().values():
        assert processor.pool in ("thread", "process")
        assert pickle.loads(pickle.dumps(processor)) == processor


def test_unknown_processor_lists_the_known_names():
    with pytest.raises(KeyError, match="checksum, thumbnail, compress"):
        get("sha")


def test_options_are_checked_against_their_description():
    assert get("compress").resolve_options({"level": 9})["level"] == 9
    with pytest.raises(ValueError, match="at most 9"):
        get("compress").resolve_options({"level": 10})
    with pytest.raises(ValueError, match="one of sha256, md5"):
        get("checksum").resolve_options({"algorithm": "crc"})
    with pytest.raises(ValueError, match="no option 'colour'"):
        get("thumbnail").resolve_options({"colour": "red"})
    with pytest.raises(ValueError, match="required"):
        get("command").resolve_options({})
    assert get("python").resolve_options({"function": "a:b", "extra": 1})["extra"] == 1


def test_plugins_load_from_entry_points_and_broken_ones_are_reported(tmp_path, monkeypatch):
    (tmp_path / "good_plugin.py").write_text(
        "from core.processors import Processor\n"
        "from core.processors.checksum import process\n"
        "PROCESSOR = Processor('plugin-sum', process, 'a plugin')\n"
        "NOT_A_PROCESSOR = 42\n"
    )
    dist = tmp_path / "poolscope_test_plugins-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: poolscope-test-plugins\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[poolscope.processors]\n"
        "good = good_plugin:PROCESSOR\n"
        "missing = no_such_module_here:PROCESSOR\n"
        "wrong = good_plugin:NOT_A_PROCESSOR\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        found = processors(reload=True)
        assert found["plugin-sum"].description == "a plugin"
        errors = {error.entry_point: str(error) for error in load_errors()}
        assert "no_such_module_here" in errors["missing"]
        assert "not a core.processors.Processor" in errors["wrong"]
        assert "good" not in errors
    finally:
        monkeypatch.undo()
        processors(reload=True)
    assert "plugin-sum" not in processors()


# ---------------------------------------------------------------- checksum


@pytest.mark.parametrize("algorithm", ["sha256", "md5", "sha1", "blake2b"])
def test_checksum_matches_hashlib(tmp_path, algorithm):
    data = os.urandom(3 * (1 << 20) + 17)  # several blocks and a partial one
    path = write(tmp_path / "data.bin", data)
    result = checksum.process(path, algorithm=algorithm)
    assert result == {
        "path": path,
        "algorithm": algorithm,
        "digest": hashlib.new(algorithm, data).hexdigest(),
        "bytes": len(data),
    }


def test_checksum_of_an_empty_file_is_fine_and_unknown_algorithms_are_not(tmp_path):
    path = write(tmp_path / "empty", b"")
    assert checksum.process(path)["digest"] == hashlib.sha256(b"").hexdigest()
    with pytest.raises(ValueError, match="crc32"):
        checksum.process(path, algorithm="crc32")


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_checksum_handles_hostile_names(tmp_path, name):
    path = write(os.path.join(tmp_path, name), b"payload")
    assert checksum.process(path)["digest"] == hashlib.sha256(b"payload").hexdigest()
    assert not (tmp_path / "pwned").exists()


# ---------------------------------------------------------------- compress


def test_compress_round_trips_and_numbers_a_second_output(tmp_path):
    data = b"PoolScope " * 50_000
    path = write(tmp_path / "notes.txt", data)
    out_dir = tmp_path / "out"
    first = compress.process(path, level=9, out_dir=str(out_dir))
    assert first["output"] == str(out_dir / "notes.txt.gz")
    assert gzip.decompress((out_dir / "notes.txt.gz").read_bytes()) == data
    assert first["bytes_in"] == len(data) and first["bytes_out"] < len(data) // 50
    second = compress.process(path, out_dir=str(out_dir))
    assert second["output"] == str(out_dir / "notes.txt (2).gz")
    third = compress.process(path, out_dir=str(out_dir), overwrite=True)
    assert third["output"] == first["output"]
    assert sorted(os.listdir(out_dir)) == ["notes.txt (2).gz", "notes.txt.gz"]  # no temporary files left


def test_compress_rejects_a_bad_level(tmp_path):
    path = write(tmp_path / "a", b"a")
    for level in (0, 10, "5", True):
        with pytest.raises(ValueError, match="1 to 9"):
            compress.process(path, level=level)


# ---------------------------------------------------------------- text-stats


def test_text_stats_utf8(tmp_path):
    text = "Grüße aus Köln\nzweite Zeile ohne Ende"
    path = write(tmp_path / "utf8.txt", text.encode("utf-8"))
    result = text_stats.process(path)
    assert result["encoding"] == "utf-8" and result["bom"] is False
    assert (result["lines"], result["words"], result["characters"]) == (2, 7, len(text))
    assert result["bytes"] == len(text.encode("utf-8"))
    assert result["undecodable_bytes"] == 0


@pytest.mark.parametrize(("codec", "expected"), [("utf-16", "utf-16-le"), ("utf-16-be", "utf-16-be")])
def test_text_stats_utf16_with_bom(tmp_path, codec, expected):
    text = "naïve café\nline two\n"
    data = text.encode(codec)
    if codec == "utf-16-be":
        data = b"\xfe\xff" + data
    path = write(tmp_path / "utf16.txt", data)
    result = text_stats.process(path)
    assert (result["encoding"], result["bom"]) == (expected, True)
    assert (result["lines"], result["words"], result["characters"]) == (2, 4, len(text))
    assert result["undecodable_bytes"] == 0


def test_text_stats_cp1252_and_latin1_fallbacks(tmp_path):
    text = "Prix: 12 € — déjà vu\n"
    path = write(tmp_path / "cp1252.txt", text.encode("cp1252"))
    result = text_stats.process(path)
    assert result["encoding"] == "cp1252"
    assert (result["words"], result["characters"], result["undecodable_bytes"]) == (6, len(text), 0)
    # 0x81 is undefined in cp1252: the file is read as latin-1, nothing lost.
    path = write(tmp_path / "latin1.txt", b"caf\xe9 \x81\n")
    result = text_stats.process(path)
    assert (result["encoding"], result["characters"], result["undecodable_bytes"]) == ("latin-1", 7, 0)


def test_text_stats_counts_invalid_bytes_without_failing(tmp_path):
    data = "déjà vu, schön\n".encode() * 3 + b"bad \xff\xfe bytes\n"
    path = write(tmp_path / "broken.txt", data)
    result = text_stats.process(path)
    assert result["encoding"] == "utf-8"
    assert result["undecodable_bytes"] == 2
    assert result["lines"] == 4
    # An odd trailing byte in UTF-16 is one undecodable byte.
    path = write(tmp_path / "odd16.txt", "hi there".encode("utf-16") + b"\x00")
    result = text_stats.process(path)
    assert (result["words"], result["undecodable_bytes"]) == (2, 1)


def test_text_stats_counts_a_word_split_across_blocks_once(tmp_path):
    block = 1 << 20
    data = b"a " * (block // 2 - 2) + b"xxxyyy zz\n"  # "xxxyyy" straddles the first block's end
    path = write(tmp_path / "big.txt", data)
    result = text_stats.process(path)
    assert result["words"] == len(data.split())
    assert result["lines"] == 1


# ---------------------------------------------------------------- thumbnail


def test_thumbnail_keeps_the_aspect_ratio(tmp_path):
    path = os.fspath(tmp_path / "wide.png")
    Image.new("RGB", (800, 400), (200, 30, 30)).save(path)
    result = thumbnail.process(path, size=100, out_dir=str(tmp_path / "thumbs"))
    assert (result["width"], result["height"]) == (100, 50)
    with Image.open(result["output"]) as made:
        assert made.format == "PNG" and made.size == (100, 50)
    assert result["output"] == str(tmp_path / "thumbs" / "wide.thumb.png")


def is_red(pixel) -> bool:
    red, green, blue = pixel[:3]
    return red > 180 and green < 80 and blue < 80


def test_thumbnail_honours_exif_orientation(tmp_path):
    path = os.fspath(tmp_path / "camera.jpg")
    image = Image.new("RGB", (400, 200), (10, 120, 200))
    image.paste((230, 20, 20), (0, 0, 80, 80))  # a red marker in the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to show upright
    image.save(path, exif=exif, quality=95)
    result = thumbnail.process(path, size=100, format="png")
    assert (result["width"], result["height"]) == (50, 100)
    assert (result["original_width"], result["original_height"]) == (200, 400)  # upright, as shown
    with Image.open(result["output"]) as made:
        assert made.size == (50, 100) and made.format == "PNG"
        rgb = made.convert("RGB")
        # Turned clockwise, the stored top-left corner shows top-right; the
        # other way round it would show bottom-left.
        assert is_red(rgb.getpixel((45, 5)))
        assert not is_red(rgb.getpixel((5, 5))) and not is_red(rgb.getpixel((5, 95)))
        assert not is_red(rgb.getpixel((45, 95)))


def test_thumbnail_reports_the_size_of_the_original_not_of_its_draft(tmp_path):
    path = os.fspath(tmp_path / "big.jpg")
    Image.new("RGB", (2400, 1200), (90, 30, 160)).save(path)
    result = thumbnail.process(path, size=100)
    assert (result["original_width"], result["original_height"]) == (2400, 1200)
    assert (result["width"], result["height"]) == (100, 50)


def test_thumbnail_of_a_large_image_reports_progress(tmp_path):
    path = os.fspath(tmp_path / "large.png")
    Image.new("RGB", (2500, 2000), (5, 90, 40)).save(path)  # 5 megapixels
    small = os.fspath(tmp_path / "small.png")
    Image.new("RGB", (200, 100)).save(small)
    reported: dict[int, list] = {}
    with ThreadPool(workers=1) as pool:
        pool.events.subscribe(
            lambda event: (
                reported.setdefault(event.task_id, []).append(event.payload)
                if event.kind == EventKind.TASK_PROGRESS
                else None
            )
        )
        large_task = pool.schedule(thumbnail.process, (path,), {"size": 64})
        small_task = pool.schedule(thumbnail.process, (small,), {"size": 64})
        large_task.result(timeout=60)
        small_task.result(timeout=60)
    fractions = [payload[0] for payload in reported[large_task.task_id]]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(fractions) >= 3
    assert small_task.task_id not in reported


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_thumbnail_formats_from_a_transparent_palette_image(tmp_path, fmt):
    path = os.fspath(tmp_path / "icon.gif")
    Image.new("RGBA", (300, 300), (0, 0, 0, 0)).convert("P").save(path, transparency=0)
    result = thumbnail.process(path, size=64, format=fmt)
    with Image.open(result["output"]) as made:
        assert made.size == (64, 64)
        assert made.format == fmt.upper()


def test_thumbnail_refuses_what_is_not_an_image(tmp_path):
    path = write(tmp_path / "fake.png", b"this is text, not a picture\n")
    with pytest.raises(InputError, match="is not an image"):
        thumbnail.process(path, out_dir=str(tmp_path / "out"))
    truncated = os.fspath(tmp_path / "cut.png")
    Image.new("RGB", (300, 300), (1, 2, 3)).save(truncated)
    with open(truncated, "r+b") as handle:
        handle.truncate(120)
    with pytest.raises(InputError, match="damaged"):
        thumbnail.process(truncated, out_dir=str(tmp_path / "out"))
    assert not os.path.exists(tmp_path / "out")  # nothing was written, not even the folder


# ---------------------------------------------------------------- command


def test_command_copies_with_placeholders(tmp_path):
    path = write(tmp_path / "report.final.txt", b"content")
    out = tmp_path / "backup"
    out.mkdir()
    result = command.process(path, template="cp {path} {out_dir}/{stem}.bak", out_dir=str(out))
    assert (out / "report.final.bak").read_bytes() == b"content"
    assert result["exit_code"] == 0
    assert result["command"] == ["cp", path, f"{out}/report.final.bak"]


def test_build_command_fills_every_placeholder_and_escapes_braces(tmp_path):
    path = os.fspath(tmp_path / "a b.tar.gz")
    args = command.build_command("echo {path} {name} {stem} {suffix} {parent} {out_dir} {{x}}", path)
    assert args == ["echo", path, "a b.tar.gz", "a b.tar", ".gz", str(tmp_path), str(tmp_path), "{x}"]
    with pytest.raises(ValueError, match=r"unknown placeholder \{file\}"):
        command.build_command("cat {file}", path)
    with pytest.raises(ValueError, match="cannot be split"):
        command.build_command("echo 'unclosed", path)


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_command_passes_a_hostile_name_as_one_argument(tmp_path, monkeypatch, name):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))  # a `rm -rf ~…` that ran anyway would hit a scratch folder
    work = tmp_path / "work"
    work.mkdir()
    canary = work / "~.txt"  # what `x; rm -rf ~.txt`, run by a shell, would remove
    canary.write_bytes(b"alive")
    path = write(os.path.join(work, name), b"x")
    monkeypatch.chdir(work)  # a `touch pwned` that ran anyway would land here
    result = command.process(path, template="""sh -c 'printf "%s|%s\\n" "$#" "$1"' sh {path}""")
    assert result["stdout_tail"] == f"1|{path}\n".encode("utf-8", "surrogateescape").decode(
        "utf-8", "replace"
    )
    assert canary.read_bytes() == b"alive"
    assert not (work / "pwned").exists()
    assert sorted(os.listdir(work)) == sorted(["~.txt", name])
    assert os.listdir(home) == []


def test_command_with_a_hostile_name_copies_byte_for_byte(tmp_path):
    canary = tmp_path / "canary"
    canary.write_bytes(b"alive")
    out = tmp_path / "out"
    out.mkdir()
    for name in HOSTILE_NAMES:
        path = write(os.path.join(tmp_path, name), name.encode("utf-8", "surrogateescape"))
        command.process(path, template="cp -- {path} {out_dir}/{name}", out_dir=str(out))
        assert (out / name).read_bytes() == name.encode("utf-8", "surrogateescape")
    assert canary.read_bytes() == b"alive"
    assert sorted(os.listdir(out)) == sorted(HOSTILE_NAMES)


def test_command_failure_carries_exit_code_and_stderr_tail(tmp_path):
    path = write(tmp_path / "a.txt", b"a")
    template = "sh -c 'i=0; while [ $i -lt 400 ]; do echo line-$i >&2; i=$((i+1)); done; exit 3'"
    with pytest.raises(CommandFailed) as caught:
        command.process(path, template=template)
    error = caught.value
    assert error.exit_code == 3
    assert error.stderr_tail.endswith("line-399\n") and len(error.stderr_tail) == 2_000
    assert "exited with code 3" in str(error) and "line-399" in str(error)
    again = pickle.loads(pickle.dumps(error))
    assert (again.exit_code, again.stderr_tail, str(again)) == (3, error.stderr_tail, str(error))


def test_command_time_out_and_missing_program(tmp_path):
    path = write(tmp_path / "a.txt", b"a")
    with pytest.raises(CommandFailed, match=r"time-out of 0\.3 s") as caught:
        command.process(path, template="sh -c 'sleep 30; :'", timeout=0.3)
    assert caught.value.exit_code is None
    with pytest.raises(CommandFailed, match="was not found"):
        command.process(path, template="no-such-program-poolscope {path}")


def test_command_output_is_followed_as_a_bounded_tail(tmp_path):
    path = write(tmp_path / "a.txt", b"a")
    template = "sh -c 'head -c 33554432 /dev/zero | tr \\\\0 x; echo; echo the-end; echo err-end >&2'"
    tracemalloc.start()
    try:
        result = command.process(path, template=template)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result["stdout_tail"].endswith("x\nthe-end\n") and len(result["stdout_tail"]) == command.TAIL
    assert result["stderr_tail"] == "err-end\n"
    assert peak < 4 << 20, f"{peak / 2**20:.1f} MiB held for 32 MiB of output"


def pid_gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_for_file(path, timeout: float = 30.0) -> str:
    """The text a command wrote to ``path``, once it is there."""
    deadline = time.monotonic() + timeout
    while not (os.path.exists(path) and path.read_text().strip()):
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)
    return path.read_text().strip()


def test_a_command_dies_with_the_worker_process_killed_at_its_time_out(tmp_path):
    path = write(tmp_path / "a.txt", b"a")
    pid_file = tmp_path / "pid"
    # exec: the program that sleeps is the command itself, with the shell's pid
    template = f"sh -c 'echo $$ > {pid_file}; exec sleep 60'"
    with ProcessPool(workers=1) as pool:
        future = pool.schedule(command.process, (path,), {"template": template}, timeout=1.0)
        pid = int(wait_for_file(pid_file))
        with pytest.raises(TaskTimeout):
            future.result(timeout=30)
    deadline = time.monotonic() + 10
    while not pid_gone(pid):
        assert time.monotonic() < deadline, f"the command (pid {pid}) outlived its killed worker"
        time.sleep(0.02)


@pytest.mark.parametrize("stop", ["cancel", "time-out"])
def test_a_command_on_a_thread_pool_is_stopped_with_its_task(tmp_path, stop):
    path = write(tmp_path / "a.txt", b"a")
    pid_file = tmp_path / "pid"
    template = f"sh -c 'sleep 60 & echo $! > {pid_file}; wait'"  # the sleep is a grandchild
    with ThreadPool(workers=1) as pool:
        future = pool.schedule(
            command.process, (path,), {"template": template}, timeout=1.0 if stop == "time-out" else None
        )
        pid = int(wait_for_file(pid_file))
        if stop == "cancel":
            pool.cancel(future.task_id)
        with pytest.raises((TaskCancelled, TaskTimeout)):
            future.result(timeout=30)
        deadline = time.monotonic() + 10
        while not pid_gone(pid):
            assert time.monotonic() < deadline, f"the command's child (pid {pid}) outlived its task"
            time.sleep(0.02)


# ---------------------------------------------------------------- python


def count_bytes(path: str, multiplier: int = 1) -> dict:
    with open(path, "rb") as handle:
        return {"size": len(handle.read()) * multiplier}


def test_python_calls_the_named_function(tmp_path):
    path = write(tmp_path / "a.txt", b"12345")
    assert python_call.process(path, function="os.path:getsize") == {
        "path": path,
        "function": "os.path:getsize",
        "result": 5,
    }
    name = f"{__name__}:count_bytes"
    if __name__ in sys.modules:
        assert python_call.process(path, function=name, multiplier=3) == {"size": 15}
    with pytest.raises(ValueError, match="no module named"):
        python_call.process(path, function="no_such_module_x:fn")


# ---------------------------------------------------------------- bad inputs

PROCESSOR_CALLS = {
    "checksum": lambda path, out: checksum.process(path),
    "compress": lambda path, out: compress.process(path, out_dir=out),
    "text-stats": lambda path, out: text_stats.process(path),
    "thumbnail": lambda path, out: thumbnail.process(path, out_dir=out),
    "command": lambda path, out: command.process(path, template="cp {path} {out_dir}", out_dir=out),
    "python": lambda path, out: python_call.process(path, function="os.path:getsize"),
}


def make_bad_input(kind: str, tmp_path) -> str:
    path = os.fspath(tmp_path / f"bad-{kind}")
    if kind == "missing":
        pass
    elif kind == "broken symlink":
        os.symlink(tmp_path / "nowhere", path)
    elif kind == "symlink loop":
        os.symlink(path + "-other", path)
        os.symlink(path, path + "-other")
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        os.mkdir(path)
    elif kind == "socket":
        import socket

        sock = socket.socket(socket.AF_UNIX)
        sock.bind(path)
        sock.close()
    elif kind == "device":
        path = "/dev/null"
    elif kind == "permission denied":
        write(path, b"secret")
        os.chmod(path, 0)
    return path


BAD_INPUTS = {
    "missing": "does not exist",
    "broken symlink": "is a broken symbolic link",
    "symlink loop": "is a symbolic link loop",
    "fifo": "is a named pipe \\(FIFO\\), not a regular file",
    "folder": "is a folder, not a regular file",
    "socket": "is a socket, not a regular file",
    "device": "is a character device, not a regular file",
    "permission denied": "cannot be read: permission denied",
}


@pytest.mark.timeout(10)  # a FIFO that was opened would block forever
@pytest.mark.parametrize("kind", list(BAD_INPUTS))
@pytest.mark.parametrize("name", list(PROCESSOR_CALLS))
def test_every_processor_rejects_bad_inputs_with_a_clear_reason(tmp_path, kind, name):
    if kind == "permission denied":
        skip_unless_modes_are_enforced()
    path = make_bad_input(kind, tmp_path)
    out = os.fspath(tmp_path / "out")
    with pytest.raises(InputError, match=BAD_INPUTS[kind]) as caught:
        PROCESSOR_CALLS[name](path, out)
    assert caught.value.path == path and str(caught.value).startswith(f"'{path}' ")
    assert not os.path.exists(out) or not os.listdir(out)


@pytest.mark.parametrize("name", ["text-stats", "thumbnail"])
def test_an_empty_file_is_a_bad_input_where_content_is_needed(tmp_path, name):
    path = write(tmp_path / "empty.txt", b"")
    with pytest.raises(InputError, match="is empty"):
        PROCESSOR_CALLS[name](path, os.fspath(tmp_path / "out"))
    assert check_input(path, get("checksum")).st_size == 0


def test_input_error_messages_show_odd_names_on_one_line():
    error = InputError(os.fsdecode(b"a\nb\xff"), "does not exist")
    assert "\n" not in str(error) and "does not exist" in str(error)
    assert pickle.loads(pickle.dumps(error)).path == error.path


# ---------------------------------------------------------------- outputs


@pytest.mark.parametrize("name", ["../escape.txt", "a/b.txt", "..", ".", "", "/etc/passwd", "x\0y"])
def test_output_path_never_leaves_the_folder(tmp_path, name):
    with pytest.raises(OutputError, match="not a plain file name"):
        output_path(os.fspath(tmp_path), name)


def test_output_path_numbers_existing_names_and_avoids_inputs(tmp_path):
    folder = os.fspath(tmp_path)
    assert output_path(folder, "a.txt") == os.path.join(folder, "a.txt")
    write(tmp_path / "a.txt", b"1")
    write(tmp_path / "a (2).txt", b"2")
    assert output_path(folder, "a.txt") == os.path.join(folder, "a (3).txt")
    assert output_path(folder, "a.txt", overwrite=True) == os.path.join(folder, "a.txt")
    source = os.path.join(folder, "a.txt")
    assert output_path(folder, "a.txt", overwrite=True, inputs=[source]) == os.path.join(folder, "a (2).txt")
    os.symlink(source, tmp_path / "link.txt")
    assert output_path(folder, "link.txt", overwrite=True, inputs=[source]) == os.path.join(
        folder, "link (2).txt"
    )
    assert output_path(folder, "..hidden") == os.path.join(folder, "..hidden")
    assert output_path(folder, "noext") == os.path.join(folder, "noext")
    write(tmp_path / "noext", b"")
    assert output_path(folder, "noext") == os.path.join(folder, "noext (2)")


def test_atomic_write_removes_the_partial_file_on_error(tmp_path):
    target = os.fspath(tmp_path / "out.bin")
    with pytest.raises(RuntimeError), atomic_write(target) as out:
        out.file.write(b"half")
        assert os.path.exists(out.temp_path)
        raise RuntimeError("failed midway")
    assert os.listdir(tmp_path) == []
    with atomic_write(target) as out:
        out.file.write(b"whole")
    with open(target, "rb") as handle:
        assert handle.read() == b"whole"
    # the mode a plain open() would give, not mkstemp's private 0o600
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o666 & ~outputs._umask()
    with atomic_write(target, overwrite=False) as out:
        out.file.write(b"second")
    assert out.path == os.fspath(tmp_path / "out (2).bin")
    assert sorted(os.listdir(tmp_path)) == ["out (2).bin", "out.bin"]


# ---------------------------------------------------------------- in real pools


def test_a_cancelled_compress_leaves_no_partial_output(tmp_path):
    path = write(tmp_path / "big.bin", bytes(20 << 20))  # large enough to report progress
    out = tmp_path / "out"
    with ThreadPool(workers=1) as pool:

        def cancel_on_first_progress(event):
            if event.kind == EventKind.TASK_PROGRESS:
                pool.cancel(event.task_id)

        pool.events.subscribe(cancel_on_first_progress)
        future = pool.submit(compress.process, path, out_dir=str(out))
        with pytest.raises(TaskCancelled):
            future.result(timeout=30)
    assert os.listdir(out) == []


def test_processors_run_in_a_thread_pool(tmp_path):
    paths = [write(tmp_path / f"f{i}.txt", f"file {i}\n".encode()) for i in range(8)]
    with ThreadPool(workers=3) as pool:
        results = list(pool.map(text_stats.process, paths))
    assert [r["words"] for r in results] == [2] * 8


def test_processors_run_in_a_process_pool(tmp_path):
    paths = [write(tmp_path / f"f{i}.bin", bytes([i]) * 1000) for i in range(4)]
    image = os.fspath(tmp_path / "pic.png")
    Image.new("RGB", (64, 32)).save(image)
    with ProcessPool(workers=2) as pool:
        sums = list(pool.map(checksum.process, paths))
        thumb = pool.submit(thumbnail.process, image, size=16).result(timeout=60)
        missing = pool.submit(checksum.process, os.fspath(tmp_path / "missing"))
        with pytest.raises(Exception, match="does not exist"):
            missing.result(timeout=60)
    assert [s["digest"] for s in sums] == [hashlib.sha256(bytes([i]) * 1000).hexdigest() for i in range(4)]
    assert (thumb["width"], thumb["height"]) == (16, 8)


# ---------------------------------------------------------------- output safety in jobs


_writers: dict[str, threading.Thread] = {}


def write_slowly(path: str, out_dir: str, seconds: float) -> dict:
    """An output that takes a while and never looks for a cancel itself."""
    _writers[path] = threading.current_thread()
    with atomic_write(os.path.join(out_dir, "late.txt"), source=path) as out:
        out.file.write(b"late")
        time.sleep(seconds)
    return {"output": out.path}


def test_an_output_is_not_put_in_place_after_its_thread_task_timed_out(tmp_path):
    path = write(tmp_path / "a.txt", b"a")
    out = tmp_path / "out"
    out.mkdir()
    with ThreadPool(workers=1) as pool:
        future = pool.schedule(write_slowly, (path, str(out), 0.6), timeout=0.2)
        with pytest.raises(TaskTimeout):
            future.result(timeout=30)
        abandoned = _writers.pop(path)
        deadline = time.monotonic() + 30
        while abandoned.is_alive():
            assert time.monotonic() < deadline, f"the late writer is still at it: {os.listdir(out)}"
            time.sleep(0.02)
    assert os.listdir(out) == []  # neither the output nor its temporary file


def test_leftovers_are_removed_only_once_their_writer_is_gone(tmp_path):
    source = write(tmp_path / "a.txt", b"a")
    out = tmp_path / "out"
    out.mkdir()
    with atomic_write(str(out / "a.txt.gz"), source=source) as live:
        assert outputs.remove_leftovers(str(out), source) == []  # its writer holds it
        assert os.path.exists(live.temp_path)
        assert outputs.is_temporary_name(os.path.basename(live.temp_path))
    # A writer killed mid-write leaves its file, unlocked: derived from the folder and the input.
    with atomic_write(str(out / "b.gz"), source=source) as dead:
        orphan = dead.temp_path + ".copy.part"
        os.link(dead.temp_path, orphan)
    other = write(tmp_path / "b.txt", b"b")
    with atomic_write(str(out / "c.gz"), source=other) as unrelated:
        stranger = unrelated.temp_path + ".copy.part"
        os.link(unrelated.temp_path, stranger)
    assert outputs.remove_leftovers(str(out), source) == [orphan]
    assert os.path.exists(stranger)  # another input's


def test_a_killed_process_task_leaves_no_partial_output(tmp_path):
    path = write(tmp_path / "big.bin", os.urandom(64 << 20))  # seconds of gzip -9
    out = tmp_path / "out"
    spec = make_spec(compress.PROCESSOR, [path], {"level": 9}, out_dir=str(out), timeout=0.5)
    seen = []
    with ProcessPool(workers=1) as pool:
        job = Job(pool, spec)
        job.start()
        deadline = time.monotonic() + 60
        while not job.finished:
            assert time.monotonic() < deadline, job.progress()
            job.poll(timeout=0.02)
            seen.extend(name for name in os.listdir(out) if name.endswith(".part"))
        job.close()
    (row,) = job.rows
    assert row.state is InputState.FAILED and "time-out" in row.error
    assert seen, "the worker was not killed while it wrote (no temporary file was seen)"
    assert os.listdir(out) == []


def test_with_overwrite_an_output_never_replaces_another_input(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    write(folder / "a.txt", b"plain text\n" * 100)
    earlier = gzip.compress(b"an input of its own")
    write(folder / "a.txt.gz", earlier)
    write(folder / "b.txt", b"b" * 100)
    write(folder / "b.txt.gz", b"an earlier output, not an input: *.gz is excluded")
    for paths, exclude in (([folder], ["*.gz"]), ([folder / "a.txt", folder / "a.txt.gz"], [])):
        spec = make_spec(compress.PROCESSOR, paths, exclude=exclude, out_dir=str(folder), overwrite=True)
        with ThreadPool(workers=2) as pool:
            job = Job(pool, spec)
            job.start()
            run_to_end(job)
            job.close()
        rows = {os.path.basename(row.input): row for row in job.rows}
        if exclude:
            assert rows["b.txt"].state is InputState.DONE  # b.txt.gz is no input: it is replaced
            assert gzip.decompress((folder / "b.txt.gz").read_bytes()) == b"b" * 100
            assert rows["a.txt"].state is InputState.DONE  # nor is a.txt.gz, under this pattern
            write(folder / "a.txt.gz", earlier)
        else:
            assert rows["a.txt"].state is InputState.FAILED
            assert "another input of this batch" in rows["a.txt"].error
            assert str(folder / "a.txt.gz") in rows["a.txt"].error
            assert rows["a.txt.gz"].state is InputState.DONE
            assert (folder / "a.txt.gz").read_bytes() == earlier
            assert gzip.decompress((folder / "a.txt.gz.gz").read_bytes()) == earlier
