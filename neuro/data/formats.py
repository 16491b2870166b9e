"""Format checks of one sample file, per on-disk format, without a manifest.

Two depths, both raising :class:`DataCorruptError` naming the file and what is wrong:

* ``full=False`` (before every sample read and in ``neuro data list``): what the file's size
  and header can tell. N-MNIST ``.bin``: a positive multiple of 5 bytes. DVSGesture ``.npy``:
  an (N, 4) integer array whose header agrees with the file size. SHD/SSC ``.h5``: the
  datasets, their dtypes and lengths. AEDAT4: the header, the packet chain and the data
  table at the end of the file, each ending where the next begins (no decompression).
* ``full=True`` (``neuro data verify``, and per sample for the small ``.bin``/``.npy``
  files): every byte read and every event checked against the sensor.

===========  =====================================================================================
``.bin``     x, y < 34 for every event (y = 240 marks a timestamp overflow)
``.npy``     integer columns x, y, p, t (ms): :math:`0 \\le x, y < 128`, :math:`p \\in \\{0, 1\\}`,
             :math:`t_{i+1} \\ge t_i \\ge 0`, and :math:`1000\\,t` fits the dtype (tonic scales it in place)
``.h5``      spike times finite, :math:`\\ge 0` and non-decreasing within each sample; units < 700;
             labels < the number of ``extra/keys``; as many times as units in every sample
``.aedat4``  decoded with ``aedat`` (tonic's reader): every event packet of the chain decoded,
             x < width and y < height of the stream
===========  =====================================================================================

What no format check can see (a byte flipped inside a timestamp, x and y swapped, a
``.bin`` shorter by a whole event) is caught by the manifest (:mod:`neuro.data.manifest`).

Example::

    from neuro.data.formats import check_sample_file
    check_sample_file("datasets/NMNIST/Train/0/00002.bin", full=True)
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from .errors import DataCorruptError

AEDAT4_MAGIC = b"#!AER-DAT4.0"
NMNIST_SIZE = 34
NMNIST_OVERFLOW_Y = 240
DVSGESTURE_SIZE = 128
DVSGESTURE_COLUMNS = ("x", "y", "p", "t")
HSD_CHANNELS = 700


def check_sample_file(path: str | Path, full: bool = False) -> None:
    """Raise DataCorruptError naming ``path`` if it cannot be one sample of its format (by suffix; others pass)."""
    path = Path(path)
    if not path.is_file():
        raise DataCorruptError(f"{path}: missing")
    check = _CHECKS.get(path.suffix)
    if check is not None:
        check(path, full)


# ----------------------------------------------------------------------------- N-MNIST
def check_nmnist_bin(path: Path, full: bool = False) -> None:
    """N-MNIST: 5-byte events (x, y, p|t[22:16], t[15:8], t[7:0]); y == 240 is an overflow marker."""
    size = path.stat().st_size
    if size == 0 or size % 5:
        raise DataCorruptError(f"{path}: truncated N-MNIST file: {size} bytes is not a positive multiple of 5 (one event is 5 bytes); "
                               "extract the archive again")
    if not full:
        return
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size != size:
        raise DataCorruptError(f"{path}: truncated N-MNIST file: read {raw.size} of {size} bytes")
    rec = raw.reshape(-1, 5)
    td = rec[rec[:, 1] != NMNIST_OVERFLOW_Y]
    if len(td) == 0:
        raise DataCorruptError(f"{path}: corrupt N-MNIST file: no events, only overflow markers")
    bad = (td[:, 0] >= NMNIST_SIZE) | (td[:, 1] >= NMNIST_SIZE)
    if bad.any():
        i = int(np.argmax(bad))
        raise DataCorruptError(f"{path}: corrupt N-MNIST file: {int(bad.sum())} event(s) outside the 34x34 sensor, the first "
                               f"x={td[i, 0]}, y={td[i, 1]} (expected x, y < 34, or y = 240 for an overflow marker); extract the archive again")


# ----------------------------------------------------------------------------- DVSGesture
def _npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, data offset) from an .npy header, without reading the data."""
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = read(f)
            return tuple(shape), dtype, f.tell()
    except Exception as exc:
        raise DataCorruptError(f"{path}: unreadable .npy file ({type(exc).__name__}: {exc}); it is truncated or corrupt") from exc


def check_dvsgesture_npy(path: Path, full: bool = False) -> None:
    """DVSGesture (tonic's copy): an (N, 4) integer array, columns x, y, p, t (ms)."""
    shape, dtype, offset = _npy_header(path)
    if len(shape) != 2 or shape[1] != 4 or dtype.names is not None:
        raise DataCorruptError(f"{path}: DVSGesture sample must be an (N, 4) array with columns x, y, p, t (ms), "
                               f"got shape {shape} and dtype {dtype}")
    if dtype.kind not in "iu":
        raise DataCorruptError(f"{path}: DVSGesture sample must hold integers (columns x, y, p, t in ms), got dtype {dtype}; "
                               "tonic would cast these values to integers without a word")
    size, want = path.stat().st_size, offset + shape[0] * shape[1] * dtype.itemsize
    if size != want:
        raise DataCorruptError(f"{path}: {'truncated' if size < want else 'corrupt'} .npy file: {size} bytes, "
                               f"its header ({shape}, {dtype}) needs {want}")
    if not full:
        return
    arr = np.load(path, allow_pickle=False)
    if len(arr) == 0:
        raise DataCorruptError(f"{path}: DVSGesture sample holds no events")
    problems = []
    for col, name, hi in ((0, "x", DVSGESTURE_SIZE - 1), (1, "y", DVSGESTURE_SIZE - 1), (2, "p", 1)):
        lo_v, hi_v = int(arr[:, col].min()), int(arr[:, col].max())
        if lo_v < 0 or hi_v > hi:
            problems.append(f"column {col} ({name}) spans {lo_v}..{hi_v}, expected 0..{hi}")
    t = arr[:, 3]
    if int(t.min()) < 0:
        problems.append(f"column 3 (t, ms) has negative values (min {int(t.min())})")
    drops = np.flatnonzero(np.diff(t.astype(np.int64)) < 0)
    if drops.size:
        i = int(drops[0])
        problems.append(f"column 3 (t, ms) decreases at {drops.size} place(s), the first at row {i + 1} ({int(t[i])} -> {int(t[i + 1])})")
    if int(t.max()) * 1000 > np.iinfo(dtype).max:
        problems.append(f"column 3 (t, ms) reaches {int(t.max())}: times 1000 it overflows {dtype} (tonic converts to µs in place)")
    if problems:
        raise DataCorruptError(f"{path}: corrupt DVSGesture sample: " + "; ".join(problems)
                               + f" (expected columns {', '.join(DVSGESTURE_COLUMNS)}; permuted or damaged columns)")


# ----------------------------------------------------------------------------- SHD / SSC
_HSD_DATASETS = ("spikes/times", "spikes/units", "labels", "extra/keys")


def check_hsd_file(path: str | Path, full: bool = False) -> int:
    """Check an SHD/SSC HDF5 file and return its number of samples (``full``: read every spike)."""
    import h5py

    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            missing = [k for k in _HSD_DATASETS if k not in f]
            if missing:
                raise DataCorruptError(f"{path}: not an SHD/SSC file: missing {missing}")
            times, units, labels = f["spikes/times"], f["spikes/units"], f["labels"]
            t_base, u_base = h5py.check_vlen_dtype(times.dtype), h5py.check_vlen_dtype(units.dtype)
            if t_base is None or t_base.kind != "f" or u_base is None or u_base.kind not in "iu" or labels.dtype.kind not in "iu":
                raise DataCorruptError(f"{path}: corrupt SHD/SSC file: spikes/times must be variable-length floats, spikes/units "
                                       f"variable-length integers and labels integers; got {times.dtype} ({t_base}), "
                                       f"{units.dtype} ({u_base}), {labels.dtype}")
            n = len(labels)
            if len(times) != n or len(units) != n:
                raise DataCorruptError(f"{path}: {len(times)} spike times, {len(units)} unit lists and {n} labels: they must match")
            if full:
                _check_hsd_contents(path, times[()], units[()], labels[()], len(f["extra/keys"]))
            return n
    except DataCorruptError:
        raise
    except Exception as exc:
        word = "truncated" if "truncated" in str(exc) else "corrupt"
        raise DataCorruptError(f"{path}: {word} HDF5 file ({type(exc).__name__}: {exc}); delete it and extract or download it again") from exc


def _check_hsd_contents(path: Path, times, units, labels, n_keys: int) -> None:
    lengths_t = np.fromiter((len(a) for a in times), np.int64, len(times))
    lengths_u = np.fromiter((len(a) for a in units), np.int64, len(units))
    if not np.array_equal(lengths_t, lengths_u):
        i = int(np.argmax(lengths_t != lengths_u))
        raise DataCorruptError(f"{path}: corrupt SHD/SSC file: sample {i} has {lengths_t[i]} spike times but {lengths_u[i]} units")
    t = np.concatenate(times).astype(np.float64) if len(times) else np.zeros(0)
    u = np.concatenate(units).astype(np.int64) if len(units) else np.zeros(0, np.int64)
    sample = np.repeat(np.arange(len(times)), lengths_t)
    problems = []
    if not np.all(np.isfinite(t)) or (t.size and t.min() < 0):
        bad = int(np.argmax(~np.isfinite(t) | (t < 0)))
        problems.append(f"sample {sample[bad]} has a spike time of {t[bad]} s (must be finite and >= 0)")
    within = sample[1:] == sample[:-1]
    drops = np.flatnonzero(within & (np.diff(t) < 0))
    if drops.size:
        i = int(drops[0])
        problems.append(f"spike times decrease in {np.unique(sample[drops]).size} sample(s), the first in sample {sample[i]} "
                        f"({t[i]} -> {t[i + 1]} s)")
    if u.size and (u.max() >= HSD_CHANNELS or u.min() < 0):
        bad = int(np.argmax((u >= HSD_CHANNELS) | (u < 0)))
        problems.append(f"sample {sample[bad]} has unit {u[bad]} (channels are 0..{HSD_CHANNELS - 1})")
    labels = np.asarray(labels).astype(np.int64)
    if labels.size and (labels.max() >= n_keys or labels.min() < 0):
        bad = int(np.argmax((labels >= n_keys) | (labels < 0)))
        problems.append(f"sample {bad} has label {labels[bad]} (extra/keys names {n_keys} classes)")
    if problems:
        raise DataCorruptError(f"{path}: corrupt SHD/SSC file: " + "; ".join(problems) + "; extract or download it again")


def check_hsd_events(path: Path, index: int, events: np.ndarray) -> None:
    """One SHD/SSC sample as tonic returned it (t in µs, x = unit): the checks of ``full`` for that sample."""
    problems = []
    if len(events) and (events["x"].min() < 0 or events["x"].max() >= HSD_CHANNELS):
        problems.append(f"units span {events['x'].min()}..{events['x'].max()} (channels are 0..{HSD_CHANNELS - 1})")
    if len(events) > 1 and np.any(np.diff(events["t"]) < 0):
        problems.append("spike times decrease")
    if len(events) and events["t"].min() < 0:
        problems.append(f"negative spike time {events['t'].min()} µs")
    if problems:
        raise DataCorruptError(f"{path}: sample {index} is corrupt: " + "; ".join(problems) + "; run `neuro data verify` for the whole file")


# ----------------------------------------------------------------------------- AEDAT4
def _u(fmt: str, buf: bytes, at: int):
    return struct.unpack_from(fmt, buf, at)[0]


def _aedat4_header(path: Path, f) -> tuple[int, int, int]:
    """(compression, data table position or -1, offset of the first packet) from the IOHeader flatbuffer."""
    head = f.read(18)
    if head[: len(AEDAT4_MAGIC)] != AEDAT4_MAGIC:
        raise DataCorruptError(f"{path}: not an AEDAT4 file (starts with {head[:len(AEDAT4_MAGIC)]!r}, expected {AEDAT4_MAGIC!r})")
    try:
        size = _u("<i", head, 14)
        h = f.read(size) if size > 0 else b""
        if size <= 0 or len(h) < size:
            raise ValueError(f"header of {size} bytes, {len(h)} present")
        root = _u("<I", h, 0)
        vtable = root - _u("<i", h, root)
        vt_len = _u("<H", h, vtable)

        def field(i: int) -> int:
            return _u("<H", h, vtable + 4 + 2 * i) if 4 + 2 * i < vt_len else 0

        compression = _u("<i", h, root + field(0)) if field(0) else 0
        table = _u("<q", h, root + field(1)) if field(1) else -1
    except (struct.error, ValueError) as exc:
        raise DataCorruptError(f"{path}: truncated or corrupt AEDAT4 header ({exc})") from exc
    return compression, table, 18 + size


def _lz4_frame_end(buf: bytes, at: int) -> int:
    if buf[at : at + 4] != b"\x04\x22\x4d\x18":
        raise ValueError("no LZ4 frame")
    flg = buf[at + 4]
    pos = at + 7 + (8 if flg & 0x08 else 0) + (4 if flg & 0x01 else 0)
    while True:
        block = _u("<I", buf, pos)
        pos += 4
        if block == 0:
            break
        pos += (block & 0x7FFFFFFF) + (4 if flg & 0x10 else 0)
    return pos + (4 if flg & 0x04 else 0)


def _zstd_frame_end(buf: bytes, at: int) -> int:
    if buf[at : at + 4] != b"\x28\xb5\x2f\xfd":
        raise ValueError("no Zstandard frame")
    fhd = buf[at + 4]
    single = (fhd >> 5) & 1
    pos = at + 5 + (0 if single else 1) + (0, 1, 2, 4)[fhd & 3] + ((1 if single else 0), 2, 4, 8)[fhd >> 6]
    while True:
        if pos + 3 > len(buf):
            raise IndexError("block header past the end")
        header = int.from_bytes(buf[pos : pos + 3], "little")
        kind = (header >> 1) & 3
        if kind == 3:
            raise ValueError("reserved block type")
        pos += 3 + (1 if kind == 1 else header >> 3)
        if header & 1:
            break
    return pos + (4 if (fhd >> 2) & 1 else 0)


def aedat4_packets(path: Path) -> list[tuple[int, int, int]]:
    """The packet chain of an AEDAT4 file, ``[(offset, stream id, bytes)]``, checked to end where the data table
    begins and the data table to end at the end of the file; reads only the headers (raises DataCorruptError)."""
    n = path.stat().st_size
    with open(path, "rb") as f:
        compression, table, pos = _aedat4_header(path, f)
        end = table if table >= 0 else n
        if table >= n:
            raise DataCorruptError(f"{path}: truncated AEDAT4 file: {n} bytes, but its header places the data table at byte {table}")
        packets = []
        while pos < end:
            f.seek(pos)
            head = f.read(8)
            if len(head) < 8:
                raise DataCorruptError(f"{path}: truncated AEDAT4 file: the packet header at byte {pos} runs past the end ({n} bytes)")
            stream, size = struct.unpack("<ii", head)
            if size <= 0 or pos + 8 + size > n:
                raise DataCorruptError(f"{path}: truncated AEDAT4 file: the packet at byte {pos} declares {size} bytes, "
                                       f"the file ends at byte {n}")
            packets.append((pos, stream, size))
            pos += 8 + size
        if pos != end:
            raise DataCorruptError(f"{path}: corrupt AEDAT4 file: the packets end at byte {pos}, the header places the data table at byte {end}")
        if table < 0:
            return packets
        f.seek(table)
        buf = f.read()
    try:
        if compression in (1, 2):
            table_end = table + _lz4_frame_end(buf, 0)
        elif compression in (3, 4):
            table_end = table + _zstd_frame_end(buf, 0)
        else:
            table_end = table + 4 + _u("<i", buf, 0)
    except (struct.error, IndexError) as exc:  # a block runs past the end of the file
        raise DataCorruptError(f"{path}: truncated AEDAT4 file: the data table at byte {table} is cut short ({n} bytes in the file)") from exc
    except ValueError as exc:
        raise DataCorruptError(f"{path}: corrupt AEDAT4 file: no data table at byte {table} ({exc})") from exc
    if table_end != n:
        what = "cut short" if table_end > n else f"followed by {n - table_end} stray bytes"
        raise DataCorruptError(f"{path}: {'truncated' if table_end > n else 'corrupt'} AEDAT4 file: the data table at byte "
                               f"{table} ends at byte {table_end}, the file has {n} bytes ({what})")
    return packets


def check_aedat4(path: Path, full: bool = False) -> None:
    """AEDAT4: header, packet chain and data table (``full``: every event packet decoded by ``aedat``, as tonic reads it)."""
    packets = aedat4_packets(path)
    if not full:
        return
    import aedat

    try:
        decoder = aedat.Decoder(str(path))
        streams = {sid: s for sid, s in decoder.id_to_stream().items() if s["type"] == "events"}
        decoded, n_events = 0, 0
        for packet in decoder:
            stream = streams.get(packet["stream_id"])
            if stream is None or "events" not in packet:
                continue
            ev = packet["events"]
            decoded += 1
            n_events += len(ev)
            if len(ev) and (ev["x"].max() >= stream["width"] or ev["y"].max() >= stream["height"]):
                raise DataCorruptError(f"{path}: corrupt AEDAT4 file: events at x up to {ev['x'].max()}, y up to {ev['y'].max()} on a "
                                       f"{stream['width']}x{stream['height']} sensor")
    except DataCorruptError:
        raise
    except Exception as exc:
        raise DataCorruptError(f"{path}: truncated or corrupt AEDAT4 file: decoding failed ({type(exc).__name__}: {exc})") from exc
    chained = sum(1 for _, sid, _ in packets if sid in streams)
    if not streams or n_events == 0:
        raise DataCorruptError(f"{path}: AEDAT4 file holds no events")
    if decoded != chained:
        raise DataCorruptError(f"{path}: truncated or corrupt AEDAT4 file: {decoded} event packets decoded of the {chained} in the file")


_CHECKS = {".bin": check_nmnist_bin, ".npy": check_dvsgesture_npy, ".h5": lambda p, full: check_hsd_file(p, full), ".aedat4": check_aedat4}
