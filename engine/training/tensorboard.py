"""TensorBoard event files, written without TensorBoard or TensorFlow installed: a run folder
opens in ``tensorboard --logdir runs`` with its metrics, learning rate and layer histograms.

The format is small and stable: a file named ``events.out.tfevents.<time>.<host>`` holding
TFRecords (``uint64 length, uint32 masked crc32c(length), data, uint32 masked crc32c(data)``),
each record one ``tensorflow.Event`` protocol buffer: the first says ``file_version:
"brain.Event:2"``, the others carry a ``Summary`` of scalars (``simple_value``) or histograms
(``HistogramProto``) at a ``step``. The few protobuf fields needed are encoded here by hand
(``_Proto``), and crc32c is computed with NumPy tables (below), so this needs no dependency.
The tests read the files back with TensorBoard's own ``EventAccumulator``.

``TensorBoardLogger`` is the Trainer callback: ``batch/loss``, ``batch/lr`` (and
``batch/accuracy``) at most ``BATCH_POINTS_PER_S`` times a second, each point the mean of the
batches since the previous one (and always at the end of an epoch); per epoch
``epoch/<metric>`` (``train_loss``, ``val_accuracy``, ...); per diagnostics sample
``<layer>/<statistic>`` scalars and the ``<layer>/activations`` and ``<layer>/output_gradients``
histograms. Only rank 0 writes. Why batch points are thinned: every run writes this file, and a
record per batch cost ~35 µs, 8% of a small network's step; twenty points a second cost ~0.1%
and draw the same curve (TensorBoard's own writers thin the same way: Lightning logs every 50
steps, Keras once per epoch).
"""

from __future__ import annotations

import math
import os
import socket
import struct
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

from .events import Callback, Event, EventKind

# ---------------------------------------------------------------------- crc32c
_POLY = 0x82F63B78  # Castagnoli, reflected
_SPAN = 1024  # bytes per vectorised chunk
_TABLES: dict[str, Any] = {}


def _byte_table() -> list[int]:
    """The CRC register after one byte ``b`` from a zero register, for each ``b``."""
    if "byte" not in _TABLES:
        table = []
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ _POLY if c & 1 else c >> 1
            table.append(c)
        _TABLES["byte"] = table
    return _TABLES["byte"]


def _span_table() -> np.ndarray:
    """``C[k][b]``: the register that byte ``b`` followed by ``k`` zero bytes leaves behind
    (from a zero register). A CRC without its initial and final inversion is linear, so the
    CRC of ``n`` bytes is the XOR of ``C[n - 1 - i][data[i]]`` over ``i``: one NumPy gather and
    one XOR reduction. Built on first use (1 MiB, a few tens of ms): only long records (layer
    histograms) need it."""
    if "span" not in _TABLES:
        table = np.asarray(_byte_table(), np.uint32)
        spans = np.empty((_SPAN, 256), np.uint32)
        spans[0] = table
        for k in range(1, _SPAN):
            prev = spans[k - 1]
            spans[k] = table[prev & 0xFF] ^ (prev >> 8)
        _TABLES["span"], _TABLES["reverse"] = spans, np.arange(_SPAN - 1, -1, -1)
    return _TABLES["span"]


def _crc_bytes(state: int, data: Any) -> int:
    table = _byte_table()
    for b in data:
        state = table[(state ^ b) & 0xFF] ^ (state >> 8)
    return state


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) of ``data``, as TFRecords checksum their lengths and payloads."""
    state = 0xFFFFFFFF
    if len(data) < 128:  # a Python loop beats NumPy's call overhead on short records
        return _crc_bytes(state, data) ^ 0xFFFFFFFF
    spans = _span_table()
    reverse = _TABLES["reverse"]
    arr = np.frombuffer(data, np.uint8)
    for start in range(0, len(arr), _SPAN):
        chunk = arr[start:start + _SPAN]
        if len(chunk) < 4:  # too short to carry the register: finish byte by byte
            return _crc_bytes(state, chunk.tolist()) ^ 0xFFFFFFFF
        # the register entering a chunk acts as if XORed into its first four bytes
        chunk = chunk.copy()
        chunk[:4] ^= np.frombuffer(state.to_bytes(4, "little"), np.uint8)
        state = int(np.bitwise_xor.reduce(spans[reverse[_SPAN - len(chunk):], chunk]))
    return state ^ 0xFFFFFFFF


def _masked(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tfrecord(data: bytes) -> bytes:
    """One TFRecord: the length, its masked crc, the data, its masked crc."""
    header = struct.pack("<Q", len(data))
    return header + struct.pack("<I", _masked(crc32c(header))) + data + \
        struct.pack("<I", _masked(crc32c(data)))


# ---------------------------------------------------------------------- protobuf
def _varint(n: int) -> bytes:
    out = bytearray()
    n &= (1 << 64) - 1  # negative int64s are ten bytes, two's complement
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(number: int, wire: int) -> bytes:
    return _varint((number << 3) | wire)


def _bytes_field(number: int, payload: bytes) -> bytes:
    return _field(number, 2) + _varint(len(payload)) + payload


def _double_field(number: int, value: float) -> bytes:
    return _field(number, 1) + struct.pack("<d", value)


def _packed_doubles(number: int, values: Iterable[float]) -> bytes:
    arr = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, "<f8")
    return _bytes_field(number, arr.tobytes())


def event_bytes(wall_time: float, step: int, summary: bytes | None = None,
                file_version: str | None = None) -> bytes:
    """``tensorflow.Event``: wall_time (1), step (2), file_version (3) or summary (5)."""
    out = _double_field(1, wall_time) + _field(2, 0) + _varint(int(step))
    if file_version is not None:
        out += _bytes_field(3, file_version.encode())
    if summary is not None:
        out += _bytes_field(5, summary)
    return out


def scalar_value(tag: str, value: float) -> bytes:
    """``Summary.Value`` with tag (1) and simple_value (2, a float32)."""
    return _bytes_field(1, _bytes_field(1, tag.encode()) + _field(2, 5) +
                        struct.pack("<f", float(value)))


def histogram_value(tag: str, edges: np.ndarray, counts: np.ndarray, n: float, total: float,
                    squares: float) -> bytes:
    """``Summary.Value`` with tag (1) and histo (5): ``HistogramProto`` min (1), max (2), num
    (3), sum (4), sum_squares (5), bucket_limit (6: each bucket's right edge), bucket (7)."""
    histo = (_double_field(1, float(edges[0])) + _double_field(2, float(edges[-1])) +
             _double_field(3, float(n)) + _double_field(4, float(total)) +
             _double_field(5, float(squares)) + _packed_doubles(6, edges[1:]) +
             _packed_doubles(7, counts))
    return _bytes_field(1, _bytes_field(1, tag.encode()) + _bytes_field(5, histo))


class EventFileWriter:
    """Append events to a new ``events.out.tfevents.*`` file in ``folder`` (opened on first
    write; ``flush`` and ``close`` as a file)."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.path: Path | None = None
        self._file: IO[bytes] | None = None

    def _open(self) -> IO[bytes]:
        if self._file is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            host = socket.gethostname() or "localhost"
            name = f"events.out.tfevents.{int(time.time())}.{host}.{os.getpid()}"
            self.path = self.folder / name
            n = 1
            while self.path.exists():
                self.path = self.folder / f"{name}.{n}"
                n += 1
            self._file = self.path.open("ab")
            self._file.write(tfrecord(event_bytes(time.time(), 0,
                                                  file_version="brain.Event:2")))
        return self._file

    def write(self, step: int, values: list[bytes], wall_time: float | None = None) -> None:
        """One event at ``step`` with the ``Summary.Value``s ``values``."""
        if values:
            summary = b"".join(values)
            self._open().write(tfrecord(event_bytes(
                time.time() if wall_time is None else wall_time, step, summary)))

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        f, self._file = self._file, None
        if f is not None:
            f.close()


_BATCH_TAGS = (("loss", "batch/loss"), ("lr", "batch/lr"), ("accuracy", "batch/accuracy"))
BATCH_POINTS_PER_S = 20.0


class TensorBoardLogger(Callback):
    """Write a run's metrics and diagnostics as TensorBoard events into ``folder`` (see the
    module docstring); rank 0 only. Batch events are flushed at least every ``flush_s``
    seconds, everything else at once; the file closes at the end of ``fit``."""

    def __init__(self, folder: str | os.PathLike[str], flush_s: float = 2.0,
                 batch_points_per_s: float = BATCH_POINTS_PER_S) -> None:
        self.writer = EventFileWriter(folder)
        self.flush_s = flush_s
        self.batch_gap_s = 1.0 / batch_points_per_s if batch_points_per_s > 0 else 0.0
        self._flushed = 0.0
        self._written = -math.inf  # the first batch is a point at once
        self._sums: dict[str, float] = {}
        self._n = 0
        self._step = 0

    @property
    def path(self) -> Path | None:
        return self.writer.path

    def on_event(self, trainer: Any, event: Event) -> None:
        if event.rank != 0:
            return
        kind = event.kind
        if kind is EventKind.BATCH_END:
            m = event.metrics
            for key, _tag in _BATCH_TAGS:
                if key in m:
                    self._sums[key] = self._sums.get(key, 0.0) + float(m[key])
            self._n += 1
            self._step = event.step
            now = time.monotonic()
            if now - self._written < self.batch_gap_s:
                return
            self._write_batches(now)
        elif kind is EventKind.EPOCH_END:
            self._write_batches(time.monotonic())
            self.writer.write(event.step, [scalar_value(f"epoch/{k}", v)
                                           for k, v in event.metrics.items()])
        elif kind is EventKind.DIAGNOSTICS:
            self.writer.write(event.step, self._diagnostics(event.data["diagnostics"],
                                                            event.metrics))
        elif kind in (EventKind.FIT_END, EventKind.ERROR, EventKind.STOPPED):
            self._write_batches(time.monotonic())
            if kind is not EventKind.STOPPED:
                self.writer.close()
                return
        else:
            return
        now = time.monotonic()
        if kind is not EventKind.BATCH_END or now - self._flushed >= self.flush_s:
            self.writer.flush()
            self._flushed = now

    def _write_batches(self, now: float) -> None:
        """One point of the batch scalars: the mean of the batches gathered since the last
        (the learning rate too: a schedule stepped per batch shows its mean over the span)."""
        if self._n:
            self.writer.write(self._step, [scalar_value(tag, self._sums[key] / self._n)
                                           for key, tag in _BATCH_TAGS if key in self._sums])
        self._sums, self._n, self._written = {}, 0, now

    @staticmethod
    def _diagnostics(record: Any, scalars: Mapping[str, float] | None = None) -> list[bytes]:
        # the collector's event carries the record's scalars already (``metrics``)
        values = [scalar_value(tag, v) for tag, v in (scalars or record.scalars()).items()]
        for name, stats in record.layers.items():
            for label, sums in (("activations", stats.activation),
                                ("output_gradients", stats.output_grad)):
                if sums is not None and sums.hist is not None:
                    values.append(histogram_value(f"{name}/{label}", sums.hist.edges,
                                                  sums.hist.counts, sums.n, sums.total,
                                                  sums.squares))
        return values

    def close(self) -> None:
        self.writer.close()
