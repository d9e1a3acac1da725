"""The overlay video's two containers: AVI while recording, MP4 when the run ends.

OpenCV (FFmpeg inside) writes MP4's index (``moov``) only when the file is closed, so a run that
is killed leaves an MP4 nothing can open. The recorder therefore writes MPEG-4 Part 2 (``mp4v``)
frames into AVI segments (closed every second or so, since FFmpeg holds up to 256 kB before
writing), whose frames are plain chunks one after another: a killed run's AVIs play up to the
last frame that reached the disk. :func:`avi_to_mp4` then copies those frames, unchanged, into
one MP4 (no re-encoding: it takes about as long as copying the files).

Only what the recorder writes is supported: one mp4v video stream, no B-frames, constant frame
rate, decoder headers (VOS/VOL) in the stream.
"""
from __future__ import annotations

import struct
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO, Iterator

VOP = b"\x00\x00\x01\xb6"  # MPEG-4 Part 2 video object plane (a frame)
GOV = b"\x00\x00\x01\xb3"  # group of VOPs header, before a key frame
UNBOUNDED = (0, 0xFFFFFFFF)  # sizes of chunks left open by a run that was killed


class MuxError(RuntimeError):
    """The AVI is not one this module can copy; one line for the user."""


def avi_chunks(f: BinaryIO) -> Iterator[tuple[int, int]]:
    """(offset, size) of every video frame chunk (``##dc``/``##db``) of an AVI, in order.

    Tolerates a truncated file: RIFF and ``movi`` sizes that were never filled in (0 or ~0) or
    reach past the end run to the end of the file, and an incomplete last chunk is left out.
    OpenDML files (``RIFF AVIX`` extensions past 1 GB) are read whole.
    """
    f.seek(0, 2)
    end_of_file = f.tell()
    pos = 0
    while pos + 12 <= end_of_file:
        f.seek(pos)
        tag, size, form = struct.unpack("<4sI4s", f.read(12))
        if tag != b"RIFF" or form not in (b"AVI ", b"AVIX"):
            if pos == 0:
                raise MuxError("not an AVI file")
            break
        riff_end = end_of_file if size in UNBOUNDED else min(pos + 8 + size, end_of_file)
        yield from _movi_chunks(f, pos + 12, riff_end)
        pos = riff_end + (riff_end & 1)


def _movi_chunks(f: BinaryIO, pos: int, end: int) -> Iterator[tuple[int, int]]:
    while pos + 8 <= end:
        f.seek(pos)
        tag, size = struct.unpack("<4sI", f.read(8))
        if tag == b"LIST":
            kind = f.read(4)
            list_end = end if size in UNBOUNDED else min(pos + 8 + size, end)
            if kind == b"movi":
                yield from _frame_chunks(f, pos + 12, list_end)
            pos = list_end
        else:
            pos += 8 + size
        pos += pos & 1


def _frame_chunks(f: BinaryIO, pos: int, end: int) -> Iterator[tuple[int, int]]:
    while pos + 8 <= end:
        f.seek(pos)
        tag, size = struct.unpack("<4sI", f.read(8))
        if pos + 8 + size > end:
            return  # the chunk the run was writing when it was killed
        if tag[2:] in (b"dc", b"db") and size:
            yield pos + 8, size
        pos += 8 + size + (size & 1)


def _box(kind: bytes, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def _full_box(kind: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    return _box(kind, struct.pack(">I", (version << 24) | flags), *payload)


def _descriptor(tag: int, payload: bytes) -> bytes:
    size, length = len(payload), []
    for shift in (21, 14, 7):
        length.append(0x80 | ((size >> shift) & 0x7F))
    length.append(size & 0x7F)
    return bytes([tag, *length]) + payload


MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)


def _moov(width: int, height: int, timescale: int, delta: int, sizes: list[int], offsets: list[int],
          keys: list[int], config: bytes) -> bytes:
    count = len(sizes)
    duration = count * delta
    esds = _full_box(b"esds", 0, 0, _descriptor(0x03, struct.pack(">HB", 1, 0) + _descriptor(
        0x04, struct.pack(">BB", 0x20, 0x11) + (max(sizes)).to_bytes(3, "big") + struct.pack(">II", 0, 0)
        + _descriptor(0x05, config)) + _descriptor(0x06, b"\x02")))
    sample_entry = _box(b"mp4v", bytes(6), struct.pack(">H", 1), bytes(16), struct.pack(">HH", width, height),
                        struct.pack(">II", 0x480000, 0x480000), bytes(4), struct.pack(">H", 1), bytes(32),
                        struct.pack(">Hh", 0x18, -1), esds)
    wide = offsets and offsets[-1] > 0xFFFFFFFF
    stbl = _box(
        b"stbl",
        _full_box(b"stsd", 0, 0, struct.pack(">I", 1), sample_entry),
        _full_box(b"stts", 0, 0, struct.pack(">III", 1, count, delta)),
        _full_box(b"stss", 0, 0, struct.pack(f">I{len(keys)}I", len(keys), *keys)),
        _full_box(b"stsc", 0, 0, struct.pack(">IIII", 1, 1, 1, 1)),
        _full_box(b"stsz", 0, 0, struct.pack(f">II{count}I", 0, count, *sizes)),
        _full_box(b"co64", 0, 0, struct.pack(f">I{count}Q", count, *offsets)) if wide
        else _full_box(b"stco", 0, 0, struct.pack(f">I{count}I", count, *offsets)),
    )
    minf = _box(b"minf", _full_box(b"vmhd", 0, 1, bytes(8)),
                _box(b"dinf", _full_box(b"dref", 0, 0, struct.pack(">I", 1), _full_box(b"url ", 0, 1))), stbl)
    mdia = _box(b"mdia", _full_box(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, timescale, duration, 0x55C4, 0)),
                _full_box(b"hdlr", 0, 0, bytes(4), b"vide", bytes(12), b"VideoHandler\0"), minf)
    tkhd = _full_box(b"tkhd", 0, 3, struct.pack(">IIIII", 0, 0, 1, 0, duration), bytes(8),
                     struct.pack(">hhhH", 0, 0, 0, 0), MATRIX, struct.pack(">II", width << 16, height << 16))
    mvhd = _full_box(b"mvhd", 0, 0, struct.pack(">IIIIIH", 0, 0, timescale, duration, 0x10000, 0x100), bytes(10),
                     MATRIX, bytes(24), struct.pack(">I", 2))
    return _box(b"moov", mvhd, _box(b"trak", tkhd, mdia))


def _frame_size(config: bytes) -> tuple[int, int]:
    """Width and height from an MPEG-4 Part 2 VOL header (rectangular shape, as FFmpeg writes)."""
    start = config.find(b"\x00\x00\x01\x20")
    if start < 0:
        raise MuxError("no MPEG-4 VOL header in the first frame")
    bits = int.from_bytes(config[start + 4 : start + 36].ljust(32, b"\0"), "big")
    total, pos = 256, 0

    def take(n: int) -> int:
        nonlocal pos
        pos += n
        return (bits >> (total - pos)) & ((1 << n) - 1)

    take(1)  # random_accessible_vol
    take(8)  # video_object_type_indication
    if take(1):  # is_object_layer_identifier
        take(4 + 3)
    if take(4) == 0xF:  # aspect_ratio_info: extended PAR
        take(16)
    if take(1):  # vol_control_parameters
        take(2 + 1)
        if take(1):  # vbv_parameters
            take(79)
    if take(2) != 0:  # video_object_layer_shape
        raise MuxError("not a rectangular MPEG-4 video")
    take(1)
    resolution = take(16)
    take(1)
    if take(1):  # fixed_vop_rate
        take(max(1, (resolution - 1).bit_length()))
    take(1)
    width = take(13)
    take(1)
    height = take(13)
    return width, height


def avi_to_mp4(sources: str | Path | list, dst: str | Path, fps: float) -> int:
    """Copy the mp4v frames of the AVI file(s) ``sources``, one after another, into the MP4 ``dst``
    at ``fps``; returns the frame count (0: nothing written). Every AVI must start with a key frame
    and hold the same stream (the recorder's segments do). Raises :class:`MuxError` otherwise."""
    rate = Fraction(fps).limit_denominator(1001)
    timescale, delta = rate.numerator, rate.denominator
    files = [Path(sources)] if isinstance(sources, (str, Path)) else [Path(s) for s in sources]
    frames: list[tuple[Path, int, int]] = []  # (file, offset, size)
    keys, config = [], b""
    for path in files:
        with open(path, "rb") as f:
            for offset, size in list(avi_chunks(f)):
                f.seek(offset)
                head = f.read(min(size, 4096))
                vop = head.find(VOP)
                if vop < 0:
                    raise MuxError(f"frame {len(frames)} ({path.name}) holds no MPEG-4 frame")
                if not frames:
                    gov = head.find(GOV)
                    config = head[: min(vop, gov) if gov >= 0 else vop]
                if vop + 4 < len(head) and head[vop + 4] >> 6 == 0:  # vop_coding_type I
                    keys.append(len(frames) + 1)
                frames.append((path, offset, size))
    if not frames:
        return 0
    if not config or keys[:1] != [1]:
        raise MuxError("the video does not start with a key frame and its MPEG-4 headers")
    width, height = _frame_size(config)
    sizes = [size for _, _, size in frames]
    total = sum(sizes)
    ftyp = _box(b"ftyp", b"isom", struct.pack(">I", 0x200), b"isom", b"iso2", b"mp41")
    large = total + 8 > 0xFFFFFFFF
    mdat_header = struct.pack(">I4sQ", 1, b"mdat", total + 16) if large else struct.pack(">I4s", total + 8, b"mdat")
    offsets, at = [], len(ftyp) + len(mdat_header)
    for size in sizes:
        offsets.append(at)
        at += size
    with open(dst, "wb") as out:
        out.write(ftyp + mdat_header)
        f, opened = None, None
        try:
            for path, offset, size in frames:
                if path != opened:
                    if f is not None:
                        f.close()
                    f, opened = open(path, "rb"), path
                f.seek(offset)
                out.write(f.read(size))
        finally:
            if f is not None:
                f.close()
        out.write(_moov(width, height, timescale, delta, sizes, offsets, keys, config))
    return len(frames)
