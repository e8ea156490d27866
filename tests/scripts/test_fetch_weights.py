"""fetch_weights: copies from a local folder with sha256 checks; a corrupted file is refused."""

from __future__ import annotations

import shutil

import pytest

import fetch_weights as fw


def test_copy_from_source_verifies_and_is_idempotent(weights_dir, tmp_path):
    dest = tmp_path / "w"
    written = fw.fetch(dest, weights_dir, log=lambda *_: None)
    assert sorted(p.name for p in written) == sorted(fw.FILES)
    assert all(fw.sha256(dest / n) == sha for n, (_, sha) in fw.FILES.items())
    mtimes = {p: p.stat().st_mtime_ns for p in written}
    fw.fetch(dest, weights_dir, log=lambda *_: None)
    assert {p: p.stat().st_mtime_ns for p in written} == mtimes


def test_checksum_mismatch_is_refused_and_leaves_nothing(weights_dir, tmp_path):
    src = tmp_path / "src"
    shutil.copytree(weights_dir, src)
    data = bytearray((src / "encoder3.pth").read_bytes())
    data[100] ^= 0xFF
    (src / "encoder3.pth").write_bytes(bytes(data))
    dest = tmp_path / "w"
    with pytest.raises(fw.FetchError, match="checksum mismatch for encoder3.pth"):
        fw.fetch(dest, src, log=lambda *_: None)
    assert not (dest / "encoder3.pth").exists()
    assert not [p for p in dest.iterdir() if p.name.startswith(".")]   # no temp files left


def test_missing_source_file(weights_dir, tmp_path):
    src = tmp_path / "src"
    shutil.copytree(weights_dir, src)
    (src / "decoder5.pth").unlink()
    with pytest.raises(fw.FetchError, match="decoder5.pth is missing"):
        fw.fetch(tmp_path / "w", src, log=lambda *_: None)


def test_main_reports_error_in_one_line(tmp_path, capsys):
    assert fw.main(["--source", str(tmp_path / "nope"), "--dest", str(tmp_path / "w")]) == 1
    assert "is not a folder" in capsys.readouterr().err
