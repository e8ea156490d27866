"""Blender's multilayer OpenEXR with its composite replaced: the stylized frame written into the
file Blender wrote, every pass kept as Blender wrote it. The OpenEXR 2 scan-line layout, read
and written with numpy and zlib (Blender's Python has no OpenEXR module).

Blender 5 writes each pass as a part of its own (multipart): the composite's part is written
again (in its codec if it is None, ZIPS or ZIP, else in ZIP, which is lossless) and every other
part's chunks are copied byte for byte. Blender 4 writes every pass into one part: each chunk is
decoded and encoded again, so its codec must be None, ZIPS or ZIP (Blender's default is ZIP)."""

import os
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np

LAYER = "Composite.Combined"            # the compositor's output, as Blender names it
CODECS = ("NONE", "RLE", "ZIPS", "ZIP", "PIZ", "PXR24", "B44", "B44A", "DWAA", "DWAB")
CODED = ("NONE", "ZIPS", "ZIP")         # what this module decodes and encodes
LOSSLESS = ("NONE", "RLE", "ZIPS", "ZIP", "PIZ")
_LINES = (1, 1, 1, 16, 32, 16, 32, 32, 32, 256)     # scan lines a chunk, by codec
_TYPES = (np.dtype("<u4"), np.dtype("<f2"), np.dtype("<f4"))
_MAGIC, _TILED, _DEEP, _MULTIPART = 20000630, 0x200, 0x800, 0x1000
_ZIP_LEVEL = 4                          # OpenEXR's own default


class ExrError(ValueError):
    """A file this module cannot read or rewrite, said with what to do."""


class _Part:
    """One part's header (attributes as (name, type, value bytes), in the file's order) and the
    file offsets of its chunks."""

    def __init__(self, attributes: list):
        self.attributes = attributes
        self.offsets = None

    def get(self, name: str) -> bytes | None:
        return next((value for n, _, value in self.attributes if n == name), None)

    def set(self, name: str, value: bytes) -> None:
        self.attributes = [(n, k, value if n == name else v) for n, k, v in self.attributes]

    def channels(self) -> list:
        """(name, dtype, the channel list's entry) for each channel, in the file's order."""
        raw, found, pos = self.get("channels"), [], 0
        while raw[pos]:
            end = raw.index(b"\0", pos)
            kind, _, xs, ys = struct.unpack_from("<iB3xii", raw, end + 1)
            if (xs, ys) != (1, 1):
                raise ExrError("an OpenEXR with subsampled channels (Blender writes none)")
            found.append((raw[pos:end].decode("latin-1"), _TYPES[kind], raw[pos:end + 17]))
            pos = end + 17
        return found

    def window(self) -> tuple:
        x0, y0, x1, y1 = struct.unpack("<4i", self.get("dataWindow"))
        return y0, x1 - x0 + 1, y1 - y0 + 1         # first line, width, height

    def codec(self) -> int:
        return self.get("compression")[0]

    def chunk_count(self) -> int:
        count = self.get("chunkCount")
        lines = _LINES[self.codec()]
        return struct.unpack("<i", count)[0] if count else -(-self.window()[2] // lines)


def _string(data: bytes, pos: int) -> tuple:
    end = data.index(b"\0", pos)
    return data[pos:end].decode("latin-1"), end + 1


def is_multilayer(path: str) -> bool:
    """An OpenEXR whose channels are named layer.pass.channel, as Blender's multilayer files
    (not: another file, or one this module cannot read)."""
    try:
        return any("." in name for name in channel_names(path))
    except ExrError:
        return False


def channel_names(path: str) -> list:
    """The names of an OpenEXR's channels, every part's, in the file's order."""
    with open(path, "rb") as f:
        head = f.read(1 << 16)
        try:
            parts = _headers(head)[1]
        except (IndexError, struct.error, ValueError):
            parts = _headers(head + f.read())[1]
    return [name for part in parts for name, _, _ in part.channels()]


def _parse(data: bytes) -> tuple:
    """The version field and the parts, with their chunks' offsets."""
    version, parts, pos = _headers(data)
    for part in parts:
        part.offsets = np.frombuffer(data, "<u8", part.chunk_count(), pos).astype(int)
        pos += 8 * len(part.offsets)
    return version, parts


def _headers(data: bytes) -> tuple:
    magic, version = struct.unpack_from("<ii", data) if len(data) >= 8 else (0, 0)
    if magic != _MAGIC:
        raise ExrError("not an OpenEXR file")
    if version & (_TILED | _DEEP):
        raise ExrError("a tiled or deep OpenEXR (Blender writes scan lines)")
    parts, pos = [], 8
    while True:
        attributes = []
        while data[pos]:
            name, pos = _string(data, pos)
            kind, pos = _string(data, pos)
            size, = struct.unpack_from("<i", data, pos)
            attributes.append((name, kind, data[pos + 4:pos + 4 + size]))
            pos += 4 + size
        parts.append(_Part(attributes))
        pos += 1
        if not version & _MULTIPART or not data[pos]:
            break
    return version, parts, pos + bool(version & _MULTIPART)


def _decode(payload: bytes, codec: int, size: int) -> np.ndarray:
    """A chunk's bytes as stored uncompressed (a chunk that did not shrink is stored so)."""
    if codec == 0 or len(payload) >= size:
        return np.frombuffer(payload, np.uint8)
    if CODECS[codec] not in CODED:
        raise ExrError(f"an OpenEXR written with the {CODECS[codec]} codec")
    t = np.frombuffer(zlib.decompress(payload), np.uint8).copy()
    t[1:] -= 128                        # OpenEXR's predictor, undone (uint8 wraps)
    t = np.cumsum(t, dtype=np.uint8)
    out, half = np.empty_like(t), (len(t) + 1) // 2
    out[0::2], out[1::2] = t[:half], t[half:]
    return out


def _encode(raw: np.ndarray, codec: int) -> bytes:
    if codec == 0:
        return raw.tobytes()
    t = np.concatenate([raw[0::2], raw[1::2]])
    t[1:] = t[1:] - t[:-1] + 128
    packed = zlib.compress(t.tobytes(), _ZIP_LEVEL)
    return packed if len(packed) < raw.size else raw.tobytes()


def _ours(part: _Part, layer: str, channels: str = "RGBA") -> dict:
    """The part's channels of ``layer`` as {index in the part: index in ``channels``}."""
    names = [f"{layer}.{c}" for c in channels]
    return {i: names.index(name) for i, (name, _, _) in enumerate(part.channels()) if name in names}


def _chunks(data: bytes, version: int, part: _Part) -> list:
    """(y, lines, payload as stored) for each chunk of ``part``."""
    skip = 4 if version & _MULTIPART else 0
    first, _, height = part.window()
    found = []
    for offset in part.offsets:
        y, size = struct.unpack_from("<ii", data, offset + skip)
        found.append((y, min(_LINES[part.codec()], first + height - y),
                      data[offset + skip + 8:offset + skip + 8 + size]))
    return found


def _each(work, items: list) -> list:
    """``work`` over ``items`` on every core (zlib and numpy let go of Python's lock)."""
    with ThreadPoolExecutor(min(len(items), os.cpu_count() or 1) or 1) as pool:
        return list(pool.map(work, items))


def _columns(part: _Part) -> list:
    """Each channel's (first byte, last byte, dtype) within a scan line."""
    width, at, found = part.window()[1], 0, []
    for _, dtype, _ in part.channels():
        found.append((at, at + width * dtype.itemsize, dtype))
        at = found[-1][1]
    return found


def read(path: str, layer: str = LAYER, channels: str = "RGBA") -> np.ndarray:
    """``layer``'s ``channels`` (one letter each) of a multilayer OpenEXR, float32 H×W×C, top
    line first (0 where the file has none; alpha 1)."""
    with open(path, "rb") as f:
        data = f.read()
    version, parts = _parse(data)
    for part in parts:
        ours = _ours(part, layer, channels)
        if ours:
            first, width, height = part.window()
            rgba = np.zeros((height, width, len(channels)), np.float32)
            rgba[..., [c == "A" for c in channels]] = 1.0
            columns = _columns(part)

            def take(chunk):
                y, lines, payload = chunk
                block = _decode(payload, part.codec(), lines * columns[-1][1]).reshape(lines, -1)
                for i, k in ours.items():
                    a, b, dtype = columns[i]
                    rgba[y - first:y - first + lines, :, k] = block[:, a:b].copy().view(dtype)
            _each(take, _chunks(data, version, part))
            return rgba
    raise ExrError(f"{os.path.basename(path)} has no {layer} layer")


def replace(path: str, rgba: np.ndarray, layer: str = LAYER, drop: tuple = ()) -> None:
    """``layer``'s channels of the multilayer OpenEXR at ``path`` set to ``rgba`` (float32 H×W×4,
    top line first, scene-linear premultiplied, as the file stores them), and the channels whose
    names start with one of ``drop`` left out (with a Cryptomatte layer's metadata); the rest of
    the file kept. Written beside it and renamed over it: a failure leaves Blender's file as it
    was."""
    with open(path, "rb") as f:
        data = f.read()
    version, parts = _parse(data)
    kept, chunks, found = [], [], False     # chunks per kept part: (y, payload), or None: as stored
    for part in parts:
        part.attributes = [a for a in part.attributes if not _dropped_metadata(part, a[0], drop)]
        entries = part.channels()
        keep = [not name.startswith(drop) for name, _, _ in entries] if drop else [True] * len(entries)
        ours = _ours(part, layer)
        found |= bool(ours)
        if not any(keep) and version & _MULTIPART:
            continue                    # a pass of its own, left out
        kept.append(part)
        if not ours and all(keep):
            chunks.append(None)
            continue
        first, width, height = part.window()
        if ours and rgba.shape != (height, width, 4):
            raise ExrError(f"the stylized frame is {rgba.shape[1]}×{rgba.shape[0]} px, the file "
                           f"{width}×{height}")
        whole = len(ours) == len(entries) and version & _MULTIPART
        if whole and CODECS[part.codec()] not in CODED:     # a part of its own: written anew
            part.set("compression", bytes([CODECS.index("ZIP")]))
            part.set("chunkCount", struct.pack("<i", -(-height // _LINES[3])))
            part.offsets = [None] * part.chunk_count()
        elif CODECS[part.codec()] not in CODED:
            raise ExrError(f"the multilayer OpenEXR is written with the {CODECS[part.codec()]} "
                           f"codec, which this Blender writes with every pass in one part: "
                           f"choose ZIP, ZIPS or None (Output › Codec)")
        chunks.append(_rewritten(data, version, part, ours, rgba, whole, keep))
        part.set("channels", b"".join(e for (_, _, e), k in zip(entries, keep) if k) + b"\0")
    if not found:
        raise ExrError(f"{os.path.basename(path)} has no {layer} layer (the compositor's output)")
    partial = path + ".partial"
    try:
        with open(partial, "wb") as f:
            f.write(_file(data, version, kept, chunks))
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def _dropped_metadata(part: _Part, name: str, drop: tuple) -> bool:
    """An attribute of a Cryptomatte layer left out (cryptomatte/<key>/..., Blender's names)."""
    if not drop or not name.startswith("cryptomatte/"):
        return False
    of = part.get(name.rsplit("/", 1)[0] + "/name")
    return of is not None and of.decode("latin-1").startswith(drop)


def _rewritten(data, version, part, ours, rgba, whole, keep) -> list:
    """The part's chunks, (y, payload), with ``ours`` set from ``rgba`` and only the channels
    to ``keep``: ``whole``, made anew (all its channels are ours), else each decoded, set and
    encoded again."""
    first, width, height = part.window()
    lines, columns, codec = _LINES[part.codec()], _columns(part), part.codec()
    row = columns[-1][1]
    kept = None if all(keep) else np.concatenate([np.full(b - a, k) for (a, b, _), k
                                                  in zip(columns, keep)])

    def rewrite(chunk):
        y, n, payload = chunk
        block = np.empty((n, row), np.uint8) if whole else \
            _decode(payload, codec, n * row).reshape(n, row).copy()
        for i, k in ours.items():
            a, b, dtype = columns[i]
            block[:, a:b] = np.ascontiguousarray(
                rgba[y - first:y - first + n, :, k].astype(dtype)).view(np.uint8).reshape(n, -1)
        return y, _encode((block if kept is None else block[:, kept]).reshape(-1), codec)
    return _each(rewrite, [(y, min(lines, first + height - y), None)
                           for y in range(first, first + height, lines)] if whole
                 else _chunks(data, version, part))


def _file(data: bytes, version: int, parts: list, chunks: list) -> bytes:
    """The file again: headers, offset tables, chunks (each part's in its table's order)."""
    multi = bool(version & _MULTIPART)
    head = [struct.pack("<ii", _MAGIC, version)]
    for part in parts:
        head += [n.encode("latin-1") + b"\0" + k.encode("latin-1") + b"\0"
                 + struct.pack("<i", len(v)) + v for n, k, v in part.attributes] + [b"\0"]
    head += [b"\0"] if multi else []
    pos = sum(map(len, head)) + 8 * sum(len(p.offsets) for p in parts)
    tables, body = [], []
    for index, (part, mine) in enumerate(zip(parts, chunks)):
        table = []
        if mine is None:                # copied as stored (a part's number: its place now)
            skip = 4 if multi else 0
            for offset in part.offsets:
                size, = struct.unpack_from("<i", data, offset + skip + 4)
                body.append((struct.pack("<i", index) if multi else b"")
                            + data[offset + skip:offset + skip + 8 + size])
                table.append(pos)
                pos += len(body[-1])
        else:
            for y, payload in mine:
                body.append((struct.pack("<i", index) if multi else b"")
                            + struct.pack("<ii", y, len(payload)) + payload)
                table.append(pos)
                pos += len(body[-1])
        tables.append(np.array(table, "<u8").tobytes())
    return b"".join(head + tables + body)
