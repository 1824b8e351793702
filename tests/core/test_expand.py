"""expand_paths: dropped paths to files, each bad one with a reason."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from permission_probe import skip_unless_modes_are_enforced

from core.expand import InputScope, Rejected, expand_paths


def split(results):
    files = [r for r in results if isinstance(r, str)]
    rejected = {os.path.basename(r.path): r.reason for r in results if isinstance(r, Rejected)}
    return files, rejected


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "b.log").write_text("b")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "c.txt").write_text("c")
    (sub / "deeper").mkdir()
    (sub / "deeper" / "d.txt").write_text("d")
    return tmp_path


def test_folders_are_walked_recursively_in_a_stable_order(tree: Path) -> None:
    files, rejected = split(list(expand_paths([tree])))
    assert [os.path.relpath(f, tree) for f in files] == ["a.txt", "b.log", "sub/c.txt", "sub/deeper/d.txt"]
    assert rejected == {}


def test_include_and_exclude_patterns_filter_file_names(tree: Path) -> None:
    files, _ = split(list(expand_paths([tree], include=["*.txt"], exclude=["d.*"])))
    assert [os.path.basename(f) for f in files] == ["a.txt", "c.txt"]


def test_a_file_named_directly_is_taken_whatever_the_patterns(tree: Path) -> None:
    files, _ = split(list(expand_paths([tree / "b.log"], include=["*.txt"])))
    assert files == [str(tree / "b.log")]


def test_duplicates_are_removed(tree: Path) -> None:
    (tree / "hard.txt").hardlink_to(tree / "a.txt")
    files, _ = split(list(expand_paths([tree / "a.txt", tree, tree / "sub"])))
    names = [os.path.basename(f) for f in files]
    assert names.count("a.txt") + names.count("hard.txt") == 1
    assert names.count("c.txt") == 1


def test_every_bad_path_is_reported_and_the_rest_still_comes(tree: Path) -> None:
    (tree / "broken").symlink_to(tree / "gone")
    (tree / "loop").symlink_to(tree / "loop")
    os.mkfifo(tree / "fifo")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tree / "sock"))
    try:
        results = list(expand_paths([tree, tree / "missing", "/dev/null"]))
    finally:
        server.close()
    files, rejected = split(results)
    assert len(files) == 4
    assert "broken symbolic link" in rejected["broken"]
    assert "symbolic link loop" in rejected["loop"]
    assert "FIFO" in rejected["fifo"] and "never opened" in rejected["fifo"]
    assert "socket" in rejected["sock"]
    assert "does not exist" in rejected["missing"]
    assert "character device" in rejected["null"]


def test_an_unreadable_folder_is_reported(tree: Path) -> None:
    skip_unless_modes_are_enforced()
    locked = tree / "locked"
    locked.mkdir()
    locked.chmod(0)
    try:
        _, rejected = split(list(expand_paths([tree])))
    finally:
        locked.chmod(0o755)
    assert "permission denied" in rejected["locked"]


def test_symlinked_folders_are_followed_only_when_asked_and_loops_stop(tree: Path) -> None:
    (tree / "sub" / "up").symlink_to(tree)  # a loop back to the top
    (tree / "elsewhere").mkdir()
    (tree / "elsewhere" / "e.txt").write_text("e")
    (tree / "sub" / "link").symlink_to(tree / "elsewhere")

    plain, _ = split(list(expand_paths([tree / "sub"])))
    assert sorted(os.path.basename(f) for f in plain) == ["c.txt", "d.txt"]

    followed, _ = split(list(expand_paths([tree / "sub"], follow_symlinks=True)))
    names = sorted(os.path.basename(f) for f in followed)
    assert names == ["a.txt", "b.log", "c.txt", "d.txt", "e.txt"]  # each once, no endless walk

    _, rejected = split(list(expand_paths([tree], follow_symlinks=True)))
    assert "loop" in rejected["up"]  # leads back to the folder being walked


def test_awkward_names_come_through_unchanged(tmp_path: Path) -> None:
    names = ["with space.txt", "quote'\".txt", "x; rm -rf ~.txt", "$(touch pwned).txt", "new\nline.txt"]
    for name in names:
        (tmp_path / name).write_text("x")
    raw = os.fsencode(tmp_path) + b"/bad-\xff-byte.txt"
    with open(raw, "wb") as handle:
        handle.write(b"x")
    files, rejected = split(list(expand_paths([tmp_path])))
    assert rejected == {}
    assert sorted(os.path.basename(f) for f in files) == sorted([*names, os.fsdecode(b"bad-\xff-byte.txt")])
    assert all(os.path.exists(f) for f in files)
    assert not (tmp_path / "pwned").exists()


def test_it_streams(tree: Path) -> None:
    results = expand_paths([tree])
    assert next(results) == str(tree / "a.txt")  # before the rest of the tree is walked


def test_the_output_folder_and_temporary_outputs_are_not_taken(tree: Path) -> None:
    out = tree / "sub" / "out"
    out.mkdir()
    (out / "c.txt.gz").write_text("an output")
    (tree / ".a.txt.gz.0123456789ab.x1y2z3.part").write_text("being written")
    (tree / "sub" / "other").symlink_to(out, target_is_directory=True)
    files, rejected = split(list(expand_paths([tree], out_dir=out, follow_symlinks=True)))
    assert [os.path.relpath(f, tree) for f in files] == ["a.txt", "b.log", "sub/c.txt", "sub/deeper/d.txt"]
    assert rejected == {}
    # Named itself, the output folder is walked (it was listed before any output went in).
    named, _ = split(list(expand_paths([out], out_dir=out)))
    assert named == [str(out / "c.txt.gz")]


def test_an_input_scope_answers_as_a_scan_would(tree: Path) -> None:
    out = tree / "sub" / "out"
    out.mkdir()
    (out / "x.txt").write_text("an output")
    (tree / "sub" / "c.txt.gz").write_text("an input too")
    elsewhere = tree.parent / f"{tree.name}-elsewhere.txt"
    elsewhere.write_text("named")
    scope = InputScope([tree / "sub", elsewhere], include=["*.txt", "*.gz"], out_dir=out)
    scanned = {f for f in expand_paths([tree / "sub", elsewhere], include=["*.txt", "*.gz"], out_dir=out)}
    for path in [*tree.rglob("*"), elsewhere]:
        if path.is_file():
            assert scope.includes(str(path)) == (str(path) in scanned), path
    assert not scope.includes(str(tree / "missing.txt"))
