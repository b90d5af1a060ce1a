"""convexlab._io: atomic writes and output destinations."""

import os
import stat

import pytest

from convexlab import _io


def test_atomic_write_gives_the_permissions_of_a_plain_open(tmp_path):
    old = os.umask(0o022)
    try:
        _io.atomic_write(tmp_path / "a" / "b.txt", "héllo\n")
        with open(tmp_path / "plain.txt", "w") as f:
            f.write("x")
    finally:
        os.umask(old)
    target = tmp_path / "a" / "b.txt"
    assert target.read_text(encoding="utf-8") == "héllo\n"
    assert stat.S_IMODE(target.stat().st_mode) == stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode) == 0o644
    assert [p.name for p in target.parent.iterdir()] == ["b.txt"]  # no temporary file left


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "f.bin"
    _io.atomic_write_bytes(target, b"old")

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(_io.os, "replace", boom)
    with pytest.raises(OSError):
        _io.atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_destination_errors_name_the_option(tmp_path):
    (tmp_path / "file").write_text("x")
    assert _io.file_destination_error(None, "--json") is None
    assert _io.file_destination_error(str(tmp_path / "new" / "out.json"), "--json") is None
    assert "--json must be a file path, got the directory" in _io.file_destination_error(str(tmp_path), "--json")
    assert "--json must be a path under a directory" in _io.file_destination_error(str(tmp_path / "file" / "x"), "--json")
    assert _io.dir_destination_error(tmp_path / "d" / "e", "--out") is None and (tmp_path / "d" / "e").is_dir()
    assert "--out must be a directory, got the existing file" in _io.dir_destination_error(tmp_path / "file", "--out")
    assert "is a file, a directory is expected" in _io.dir_destination_error(tmp_path / "file" / "sub", "--out")
    assert os.listdir(tmp_path / "d" / "e") == []  # the probe file is removed
