"""addon/exr.py on files made here (no Blender): the OpenEXR layout it reads and writes, one part
and multipart, the codecs it codes, the passes it leaves out, and what it refuses. Blender's own
files, and Blender reading ours back: test_exr.py."""

from __future__ import annotations

import importlib.util
import struct
from pathlib import Path

import numpy as np
import pytest

spec = importlib.util.spec_from_file_location(
    "nst_exr", Path(__file__).resolve().parents[2] / "addon" / "exr.py")
exr = importlib.util.module_from_spec(spec)
spec.loader.exec_module(exr)

H, W = 37, 11                               # (37 lines: a last chunk shorter than the others)
HALF, FLOAT = 1, 2


def _part(name: str, channels: list, codec: str, multi: bool):
    """A part's header: channels as (name, OpenEXR pixel type), in the file's (sorted) order."""
    chlist = b"".join(n.encode() + b"\0" + struct.pack("<iB3xii", t, 0, 1, 1) for n, t in channels)
    attributes = [("channels", "chlist", chlist + b"\0"),
                  ("compression", "compression", bytes([exr.CODECS.index(codec)])),
                  ("dataWindow", "box2i", struct.pack("<4i", 0, 0, W - 1, H - 1))]
    if multi:
        lines = (1, 1, 1, 16, 32)[exr.CODECS.index(codec)]
        attributes += [("chunkCount", "int", struct.pack("<i", -(-H // lines))),
                       ("name", "string", name.encode()), ("type", "string", b"scanlineimage")]
    return exr._Part(attributes)


def _write(path: Path, parts: list, values: list, multi: bool) -> None:
    """A file of ``parts``, each channel's H×W values given (``values``: per part, per channel)."""
    chunks = []
    for part, data in zip(parts, values):
        codec, lines = part.codec(), (1, 1, 1, 16, 32)[part.codec()]
        dtypes = [dtype for _, dtype, _ in part.channels()]
        found = []
        for y in range(0, H, lines):
            rows = [np.ascontiguousarray(d[y:y + lines].astype(t)).view(np.uint8)
                    for d, t in zip(data, dtypes)]
            block = np.concatenate([r.reshape(len(r), -1) for r in rows], axis=1)
            found.append((y, exr._encode(block.reshape(-1), codec) if codec else block.tobytes()))
        part.offsets = [None] * len(found)
        chunks.append(found)
    version = 2 | 0x400 | (0x1000 if multi else 0)
    path.write_bytes(exr._file(b"", version, parts, chunks))


def _values(seed: int, n: int) -> list:
    rng = np.random.default_rng(seed)
    return [(rng.random((H, W)) * 4).astype(np.float32) for _ in range(n)]


def test_multipart_composite_set_a_pass_left_out_the_rest_kept(tmp_path):
    """Blender 5's layout: the composite's part (PIZ: written anew in ZIP), a Depth part left out
    (the parts after it renumbered), a Vector part (raw, incompressible) copied."""
    path = tmp_path / "multi.exr"
    rgba = [f"Composite.Combined.{c}" for c in "ABGR"]
    parts = [_part("Composite.Combined", [(n, HALF) for n in rgba], "PIZ", True),
             _part("ViewLayer.Depth", [("ViewLayer.Depth.Z", FLOAT)], "ZIPS", True),
             _part("ViewLayer.Vector", [(f"ViewLayer.Vector.{c}", FLOAT) for c in "WXYZ"], "NONE", True)]
    vector = _values(2, 4)
    _write(path, parts, [np.zeros((4, H, W)), _values(1, 1), vector], multi=True)
    new = np.random.default_rng(3).random((H, W, 4)).astype(np.float32)
    exr.replace(str(path), new, drop=("ViewLayer.Depth.",))
    assert exr.read(str(path)) == pytest.approx(new.astype(np.float16).astype(np.float32))
    assert np.array_equal(exr.read(str(path), "ViewLayer.Vector", "XYZW"),
                          np.stack([vector[i] for i in (1, 2, 3, 0)], -1))
    assert exr.channel_names(str(path)) == rgba + [f"ViewLayer.Vector.{c}" for c in "WXYZ"]
    data = path.read_bytes()
    version, read = exr._parse(data)
    assert read[0].codec() == exr.CODECS.index("ZIP") and read[0].chunk_count() == 3
    assert [struct.unpack_from("<i", data, o)[0] for o in read[1].offsets] == [1] * H
    assert exr.is_multilayer(str(path))


def test_one_part_decoded_set_and_encoded_again(tmp_path):
    """Blender 4's layout (every pass in one ZIP part): the composite set, Depth left out, the
    Combined pass kept to the bit; PIZ there is refused, saying what to choose."""
    path = tmp_path / "one.exr"
    names = ([f"Composite.Combined.{c}" for c in "ABGR"] + [f"ViewLayer.Combined.{c}" for c in "ABGR"]
             + ["ViewLayer.Depth.Z"])
    values = _values(4, len(names))
    _write(path, [_part("", [(n, HALF if "Depth" not in n else FLOAT) for n in names], "ZIP", False)],
           [values], multi=False)
    new = np.random.default_rng(5).random((H, W, 4)).astype(np.float32)
    exr.replace(str(path), new, drop=("ViewLayer.Depth.",))
    assert exr.read(str(path)) == pytest.approx(new.astype(np.float16).astype(np.float32))
    kept = np.stack([values[i].astype(np.float16).astype(np.float32) for i in (7, 6, 5, 4)], -1)
    assert np.array_equal(exr.read(str(path), "ViewLayer.Combined"), kept)
    assert exr.channel_names(str(path)) == names[:-1]
    _write(path, [_part("", [(n, HALF) for n in names[:4]], "PIZ", False)],
           [np.zeros((4, H, W))], multi=False)
    with pytest.raises(exr.ExrError, match="PIZ codec.*ZIP, ZIPS or None"):
        exr.replace(str(path), new)


def test_what_it_cannot_rewrite_is_said_and_left_as_it_was(tmp_path):
    path = tmp_path / "frame.exr"
    _write(path, [_part("", [("ViewLayer.Combined.R", HALF)], "ZIP", False)], [_values(6, 1)], False)
    before = path.read_bytes()
    with pytest.raises(exr.ExrError, match="no Composite.Combined layer"):
        exr.replace(str(path), np.zeros((H, W, 4), np.float32))
    _write(path, [_part("", [("Composite.Combined.R", HALF)], "ZIP", False)], [_values(6, 1)], False)
    before = path.read_bytes()
    with pytest.raises(exr.ExrError, match="is 3×2 px, the file 11×37"):
        exr.replace(str(path), np.zeros((2, 3, 4), np.float32))
    assert path.read_bytes() == before and not list(tmp_path.glob("*.partial"))
    tiled = bytearray(before)
    tiled[4:8] = struct.pack("<i", 2 | 0x200)
    path.write_bytes(bytes(tiled))
    with pytest.raises(exr.ExrError, match="tiled"):
        exr.read(str(path))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    assert not exr.is_multilayer(str(path))
