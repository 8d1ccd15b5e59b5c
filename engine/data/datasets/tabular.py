"""Tables: ``CSVDataset`` (numeric feature columns and a label column) and ``NPZDataset``
(arrays ``x`` and ``y`` in a NumPy ``.npz`` file). Both load into memory and take the
DataLoader's fast path."""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..._readers import read_npz
from ...errors import FileFormatError
from ..dataset import ArrayDataset
from ..errors import DatasetFormatError, DatasetNotFoundError

__all__ = ["MAX_CLASSES", "CSVDataset", "NPZDataset"]

Transform = Callable[[Any], Any] | None
# A class label at or above this is refused: a classifier over a million classes is almost
# always a mistake (an id column, or numeric targets that want task="regression"), and a label
# like 1e30 would otherwise overflow or ask for a last layer of that many outputs.
MAX_CLASSES = 1_000_000
_F32_MAX = float(np.finfo(np.float32).max)  # features and targets are float32: beyond is inf


def _is_number(text: str) -> bool:
    return _number(text) is not None


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _finite32(value: float) -> bool:
    return math.isfinite(value) and abs(value) <= _F32_MAX


def _not_finite32(value: float) -> str:
    """Why a value cannot be a float32 sample or target, and the fix."""
    if not math.isfinite(value):
        return "not finite; fill in a number or drop the row"
    return (f"too large for float32, the engine's default float (at most ±{_F32_MAX:.4g}); "
            f"rescale the column")


def _read_rows(path: Path, delimiter: str) -> list[tuple[int, list[str]]]:
    """The non-blank rows with their 1-based line numbers (as an editor shows them); a file
    that is not UTF-8 text or that the csv module cannot split names the line."""
    rows: list[tuple[int, list[str]]] = []
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f, delimiter=delimiter)
            line = 1
            for row in reader:
                if row and any(v.strip() for v in row):
                    rows.append((line, row))
                line = reader.line_num + 1
    except UnicodeDecodeError:
        data = path.read_bytes()  # again, to say where: the decoder saw one block of it
        try:
            data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            raise DatasetFormatError(
                f"{path}: line {line}: not UTF-8 text (byte "
                f"0x{data[exc.start]:02x} at offset {exc.start}); save the file as UTF-8 (a "
                f"spreadsheet's 'CSV UTF-8')") from None
        raise
    except csv.Error as exc:
        hint = (f"a quote that is never closed swallows the rest of the file, or the "
                f"delimiter is not {delimiter!r}" if "field larger" in str(exc) else
                "fix the quoting on that line")
        raise DatasetFormatError(f"{path}: line {line}: {exc} ({hint})") from None
    return rows


def _has_header(first: list[str], second: list[str] | None) -> bool:
    """A first row is a header when one of its fields is not a number while the field below it
    is (a data row of numbers with a text label is not mistaken for one), or when it is all
    text and the file has one row only."""
    if second is None:
        return not any(_is_number(v) for v in first)
    return any(not _is_number(a) and _is_number(b) for a, b in zip(first, second))


class CSVDataset(ArrayDataset):
    """A CSV table: numeric feature columns and one label column.

    Args:
        path: the .csv file.
        label_column: the label column, by name (needs a header) or index (negative counts from
            the end); None for a table without labels (samples only).
        feature_columns: the feature columns by name or index (default: every other column).
        header: True, False, or "auto" (detected: see ``_has_header``).
        delimiter: the field separator.
        task: "classification" (labels -> class indices: integers are kept, text labels are
            mapped to 0..k-1 in sorted order), "regression" (float32 targets), or "auto"
            (classification when every label is an integer or not a number).
        classes: fixes the label -> index mapping for text labels (e.g. to keep the same
            indices across train and test files).
        transform, target_transform: applied to each sample's features / label.

    Samples are float32 feature tensors; errors name the row (1-based, as an editor shows it)
    and the column of a bad value.
    """

    def __init__(self, path: str | Path, label_column: str | int | None = -1,
                 feature_columns: Sequence[str | int] | None = None,
                 header: bool | str = "auto", delimiter: str = ",", task: str = "auto",
                 classes: Sequence[str] | None = None, transform: Transform = None,
                 target_transform: Transform = None) -> None:
        if task not in ("auto", "classification", "regression"):
            raise ValueError(f"task must be 'auto', 'classification' or 'regression', got "
                             f"{task!r}")
        self.path = Path(path)
        if not self.path.is_file():
            raise DatasetNotFoundError(f"CSV file {self.path} not found")
        rows = _read_rows(self.path, delimiter)
        if not rows:
            raise DatasetFormatError(f"{self.path}: the file holds no rows")
        if header == "auto":
            header = _has_header(rows[0][1], rows[1][1] if len(rows) > 1 else None)
        names = [v.strip() for v in rows[0][1]] if header else [
            f"column {i + 1}" for i in range(len(rows[0][1]))]
        body = rows[1:] if header else rows
        if not body:
            raise DatasetFormatError(f"{self.path}: only a header, no data rows")
        ncols = len(names)
        label_idx = None if label_column is None else self._column(label_column, names, header)
        if feature_columns is None:
            feat_idx = [i for i in range(ncols) if i != label_idx]
        else:
            feat_idx = [self._column(c, names, header) for c in feature_columns]
        if not feat_idx:
            raise DatasetFormatError(f"{self.path}: no feature columns left besides the label")
        features = np.empty((len(body), len(feat_idx)), dtype=np.float32)
        raw_labels: list[str] = []
        for r, (line, row) in enumerate(body):
            if len(row) != ncols:
                raise DatasetFormatError(
                    f"{self.path}: row {line} has {len(row)} fields but "
                    f"{'the header' if header else 'the first row'} has {ncols}; fix that row "
                    f"(a missing or extra {delimiter!r}, or a quote left open), or pass the "
                    f"right delimiter=")
            for j, c in enumerate(feat_idx):
                text = row[c].strip()
                try:
                    value = float(text)
                except ValueError:
                    what = "is empty" if not text else f"{text!r} is not a number"
                    raise DatasetFormatError(
                        f"{self.path}: row {line}, column {names[c]!r} (column {c + 1}): "
                        f"{what}. Feature columns must be numeric; fix the value, or leave the "
                        f"column out with feature_columns=") from None
                if not _finite32(value):
                    raise DatasetFormatError(f"{self.path}: row {line}, column {names[c]!r} "
                                             f"(column {c + 1}): {text!r} is "
                                             f"{_not_finite32(value)}")
                features[r, j] = value
            if label_idx is not None:
                raw_labels.append(row[label_idx].strip())
        self.feature_names = [names[c] for c in feat_idx]
        self.label_name = None if label_idx is None else names[label_idx]
        self.classes: list[str] | None = None
        targets = None
        if label_idx is not None:
            targets = self._labels(raw_labels, body, names[label_idx], label_idx, task, classes)
        super().__init__(features, targets, transform, target_transform)

    def _column(self, col: str | int, names: list[str], header: bool) -> int:
        if isinstance(col, str):
            if not header:
                raise ValueError(f"{self.path}: column {col!r} is named, but the file has no "
                                 f"header; give its index instead")
            if col not in names:
                raise ValueError(f"{self.path}: no column {col!r}; the columns are {names}")
            return names.index(col)
        if not -len(names) <= col < len(names):
            raise ValueError(f"{self.path}: column index {col} out of range for "
                             f"{len(names)} columns")
        return col % len(names)

    def _labels(self, raw: list[str], body: list[tuple[int, list[str]]], name: str, col: int,
                task: str, classes: Sequence[str] | None) -> np.ndarray:
        """Labels as int64 class indices or float32 targets; a bad one names its row."""
        def where(line: int) -> str:
            return f"{self.path}: row {line}, column {name!r} (column {col + 1})"

        for (line, _), text in zip(body, raw):
            if not text:
                raise DatasetFormatError(f"{where(line)}: the label is empty; fill it in or "
                                         f"drop the row")
        numbers = [_number(v) for v in raw]
        numeric = all(v is not None for v in numbers)
        if task == "auto":  # numbers with a fraction: targets; whole numbers or names: classes
            task = "regression" if numeric and any(
                math.isfinite(v) and not v.is_integer() for v in numbers) else "classification"
        if task == "regression":
            for (line, _), text, v in zip(body, raw, numbers):
                if v is None:
                    raise DatasetFormatError(f"{where(line)}: {text!r} is not a number; "
                                             f"regression targets must be numbers: fill it in "
                                             f"or drop the row")
                if not _finite32(v):
                    raise DatasetFormatError(f"{where(line)}: {text!r} is {_not_finite32(v)}")
            return np.asarray(numbers, dtype=np.float32)
        if numeric and classes is None:  # class indices
            for (line, _), text, v in zip(body, raw, numbers):
                if not (math.isfinite(v) and v.is_integer()):
                    raise DatasetFormatError(
                        f"{where(line)}: {text!r} is not a class index; class labels are whole "
                        f"numbers 0, 1, 2, ... (or names); for numeric targets use "
                        f"task='regression'")
                if v < 0:
                    raise DatasetFormatError(
                        f"{where(line)}: class label {text} is negative; class labels are 0 or "
                        f"more: renumber the classes from 0")
                if v >= MAX_CLASSES:
                    raise DatasetFormatError(
                        f"{where(line)}: class label {text} is too large (at most "
                        f"{MAX_CLASSES - 1}); is this an id or a numeric column? choose the "
                        f"label column with label_column=, or use task='regression'")
            return np.asarray(numbers, dtype=np.int64)
        self.classes = list(classes) if classes is not None else sorted(set(raw))
        index = {c: i for i, c in enumerate(self.classes)}
        out = np.empty(len(raw), dtype=np.int64)
        for i, ((line, _), v) in enumerate(zip(body, raw)):
            if v not in index:
                raise DatasetFormatError(f"{where(line)}: label {v!r} is not one of the classes "
                                         f"{self.classes}")
            out[i] = index[v]
        return out

    @property
    def class_to_idx(self) -> dict[str, int] | None:
        return None if self.classes is None else {c: i for i, c in enumerate(self.classes)}


class NPZDataset(ArrayDataset):
    """Arrays from a NumPy ``.npz`` file: samples ``x_key`` and targets ``y_key`` (None for
    samples only). uint8 image arrays (N x H x W [x C]) stay images for the transforms;
    float64 samples become float32 (the engine's default float, so they meet float32 weights)
    and integer targets int64."""

    def __init__(self, path: str | Path, x_key: str = "x", y_key: str | None = "y",
                 transform: Transform = None, target_transform: Transform = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise DatasetNotFoundError(f"NPZ file {self.path} not found")
        try:
            keys, arrays = read_npz(self.path, [k for k in (x_key, y_key) if k is not None])
        except FileFormatError as exc:
            raise DatasetFormatError(str(exc)) from None
        missing = [k for k in (x_key, y_key) if k is not None and k not in arrays]
        if missing:
            raise DatasetFormatError(f"{self.path}: no array named {missing[0]!r}; it holds "
                                     f"{keys}. Pass x_key= / y_key=")
        x = arrays[x_key]
        y = arrays[y_key] if y_key is not None else None
        if x.ndim == 0:
            raise DatasetFormatError(f"{self.path}: {x_key!r} is a scalar, expected one row per "
                                     f"sample")
        if y is not None and (y.ndim == 0 or len(y) != len(x)):
            raise DatasetFormatError(f"{self.path}: {x_key!r} has {len(x)} samples but "
                                     f"{y_key!r} has {y.shape[0] if y.ndim else 0}")
        _check_finite(x, x_key, self.path, "samples")
        if y is not None and y.dtype.kind in "iu":
            y = _class_labels(y, y_key, self.path)  # type: ignore[arg-type]
        elif y is not None:
            _check_finite(y, y_key, self.path, "targets")  # type: ignore[arg-type]
        if x.dtype == np.float64:
            with np.errstate(over="ignore"):  # (values past float32's range are refused next)
                x32 = x.astype(np.float32)  # the engine's default float, as the loader expects
            big = np.argwhere(~np.isfinite(x32))
            if len(big):
                at = ", ".join(str(int(i)) for i in big[0])
                raise DatasetFormatError(
                    f"{self.path}: {x_key}[{at}] is {x[tuple(big[0])]}, "
                    f"{_not_finite32(float(x[tuple(big[0])]))}")
            x = x32
        super().__init__(x, y, transform, target_transform)


def _check_finite(a: np.ndarray, key: str, path: Path, what: str) -> None:
    if a.dtype.kind != "f":
        return
    bad = np.argwhere(~np.isfinite(a))
    if len(bad):
        at = ", ".join(str(int(i)) for i in bad[0])
        raise DatasetFormatError(f"{path}: {key}[{at}] is {a[tuple(bad[0])]} ({len(bad)} "
                                 f"value(s) are not finite); {what} must be finite numbers: "
                                 f"fill them in or drop those samples")


def _class_labels(y: np.ndarray, key: str, path: Path) -> np.ndarray:
    """Integer targets as int64 class indices: one per sample (or per position), 0 or more,
    below MAX_CLASSES; the two usual slips (a column vector, one-hot rows) say their fix."""
    if y.ndim == 2 and y.shape[1] == 1:
        raise DatasetFormatError(
            f"{path}: {key!r} has shape {y.shape}: class labels are one number per sample, a "
            f"1-D array; save {key}.ravel() (or {key}.reshape(-1)) instead")
    if y.ndim == 2 and y.size and np.isin(y, (0, 1)).all() and (y.sum(axis=1) == 1).all():
        raise DatasetFormatError(
            f"{path}: {key!r} looks one-hot encoded (shape {y.shape}, one 1 per row); class "
            f"labels are the class indices: save {key}.argmax(axis=1) instead")
    if y.size:
        low, high = np.unravel_index(y.argmin(), y.shape), np.unravel_index(y.argmax(), y.shape)
        for at, bad in ((low, y[low] < 0), (high, y[high] >= MAX_CLASSES)):
            if bad:
                where = ", ".join(str(int(i)) for i in at)
                raise DatasetFormatError(
                    f"{path}: {key}[{where}] is {y[at]}: class labels must be 0 to "
                    f"{MAX_CLASSES - 1}; renumber the classes from 0, or store numeric targets "
                    f"as floats (regression)")
    return y.astype(np.int64)
