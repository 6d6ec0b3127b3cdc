"""Compile a fitted OneHotEncoder and StandardScaler into lookup tables, checked against scikit-learn's transform.

scikit-learn's `transform` validates its input, dispatches on dtypes and builds a sparse matrix on every call:
about half a millisecond for one customer. The fitted state is small (a category list per column, a mean and a
scale per number), so at load it becomes a dict per categorical column (value -> output column, and value -> the
CSV text of its one-hot block) and two float64 vectors. The compiled form is only used after it reproduced
scikit-learn's own output bit for bit, and its CSV text character for character, on a probe set holding every
category; any difference raises, and an estimator set up in a way this module does not model falls back to
scikit-learn. Only numpy and pydantic-core are imported: the estimators' own modules are already loaded by
unpickling them.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
from pydantic_core import to_json

# The OneHotEncoder settings whose effect on a *known* category this module reproduces; unknown categories give
# zeros for every one of them but "error" (the API refuses unknown categories before transforming anyway).
HANDLED_UNKNOWN = frozenset({"error", "ignore", "infrequent_if_exist", "warn"})
# Where Python's repr() writes a float without an exponent (as pydantic-core's JSON writer does, and only there
# is the writer used), and values whose texts the two must agree on for the writer to be used at all.
FIXED_NOTATION = (1e-4, 1e16)
# The one-hot texts of category combinations are remembered up to this many characters in all (this data's 6,732
# combinations take 2.4 million).
PREFIX_CACHE_CHARS = 4_000_000
SAME_TEXT_SAMPLES = (
    0.0, -0.0, 1.0, -2.5, 0.1, 1 / 3, -2 / 3, 1e-4, 0.00012345678901234567, 123.456, 1e15, 9_999_999_999_999_998.0,
    0.30000000000000004, -1.1102230246251565, 2.220446049250313e-4,
)  # fmt: skip
# Scaled values the probe set sends through both paths besides the training means: zero, integers, fractions
# whose binary expansions differ, and large amounts.
PROBE_NUMBERS = (0.0, 1.0, 2.0, 3.0, 7.0, 0.1, 0.5, 12.34, 99.99, 415.0, 1234.567, 999_999.0)


class NotCompilable(Exception):
    """The estimators are fitted in a way this module does not model: use scikit-learn's transform instead."""


class MismatchError(ValueError):
    """The compiled form disagrees with scikit-learn's transform: refuse to serve."""


def plain(value: Any) -> Any:
    """Turn numpy scalars into Python ones so that dict lookups match JSON-parsed values."""
    return value.item() if isinstance(value, np.generic) else value


def _only(estimator: Any, kind: str) -> None:
    cls = type(estimator)
    if (cls.__module__.split(".")[:2], cls.__name__) != (["sklearn", "preprocessing"], kind):
        raise NotCompilable(f"{cls.__module__}.{cls.__name__} is not scikit-learn's {kind}")


class CompiledEncoder:
    """A fitted OneHotEncoder as per-column lookups: value -> output column, value -> one-hot CSV text."""

    def __init__(self, encoder: Any) -> None:
        _only(encoder, "OneHotEncoder")
        if getattr(encoder, "_infrequent_enabled", False):
            raise NotCompilable("infrequent categories (min_frequency / max_categories) are not compiled")
        if encoder.handle_unknown not in HANDLED_UNKNOWN:
            raise NotCompilable(f"handle_unknown={encoder.handle_unknown!r} is not compiled")
        drop_idx = getattr(encoder, "drop_idx_", None)
        self.strict = encoder.handle_unknown == "error"
        self.columns: list[dict[Hashable, int]] = []
        self.fragments: list[dict[Hashable, str]] = []
        self.unknown_fragments: list[str] = []
        self._prefixes: dict[tuple[Any, ...], str] = {}
        self.width = 0
        for i, categories in enumerate(encoder.categories_):
            values = [plain(v) for v in categories]
            if any(v is None or v != v for v in values) or len(set(values)) != len(values):
                raise NotCompilable(f"column {i} has missing (None/NaN) or duplicate categories")
            dropped = None if drop_idx is None or drop_idx[i] is None else int(drop_idx[i])
            kept = [j for j in range(len(values)) if j != dropped]
            position = {j: self.width + k for k, j in enumerate(kept)}
            self.columns.append({v: position.get(j, -1) for j, v in enumerate(values)})
            self.fragments.append(
                {v: ",".join("1.0" if j == other else "0.0" for other in kept) for j, v in enumerate(values)}
            )
            self.unknown_fragments.append(",".join(["0.0"] * len(kept)))
            self.width += len(kept)
        if self.width != len(encoder.get_feature_names_out()):
            raise NotCompilable("the encoder's output width is not one column per kept category")
        self._prefix_room = PREFIX_CACHE_CHARS // (4 * self.width + 1)  # "0.0," or "1.0," per column

    def unknown(self, column: int, value: Any) -> ValueError:
        """Return the error scikit-learn's handle_unknown='error' raises, in substance."""
        return ValueError(f"Found unknown category {value!r} in column {column} during transform")

    def fill(self, out: np.ndarray, rows: Sequence[Sequence[Any]]) -> None:
        """Set the one-hot ones of each row into out[:, :width], which must hold zeros."""
        flat: list[int] = []
        for row in rows:
            for i, (lookup, value) in enumerate(zip(self.columns, row, strict=True)):
                column = lookup.get(value)
                if column is None:
                    if self.strict:
                        raise self.unknown(i, value)
                    column = -1
                flat.append(column)
        if not flat:
            return
        cols = np.asarray(flat, dtype=np.intp).reshape(len(rows), len(self.columns))
        rows_index = np.broadcast_to(np.arange(len(rows))[:, None], cols.shape)
        kept = cols >= 0
        out[rows_index[kept], cols[kept]] = 1.0

    def csv_prefix(self, row: tuple[Any, ...]) -> str:
        """Return the CSV text of one row's one-hot blocks, each followed by a comma (remembered per row)."""
        text = self._prefixes.get(row)
        if text is None:
            text = "".join(part + "," for part in self.csv_parts(row))
            if len(self._prefixes) < self._prefix_room:
                self._prefixes[row] = text
        return text

    def csv_parts(self, row: Sequence[Any]) -> list[str]:
        """Return the CSV text of one row's one-hot blocks, column by column (empty blocks left out)."""
        parts = []
        for i, (fragments, value) in enumerate(zip(self.fragments, row, strict=True)):
            text = fragments.get(value)
            if text is None:
                if self.strict:
                    raise self.unknown(i, value)
                text = self.unknown_fragments[i]
            if text:
                parts.append(text)
        return parts


class CompiledScaler:
    """A fitted StandardScaler as (x - mean) / scale, in that order, as scikit-learn computes it in float64."""

    def __init__(self, scaler: Any) -> None:
        _only(scaler, "StandardScaler")
        self.mean = np.asarray(scaler.mean_, dtype=np.float64) if scaler.with_mean else None
        self.scale = np.asarray(scaler.scale_, dtype=np.float64) if scaler.with_std else None
        self.width = int(scaler.n_features_in_)
        for name, vector in (("mean_", self.mean), ("scale_", self.scale)):
            if vector is not None and vector.shape != (self.width,):
                raise NotCompilable(f"{name} has shape {vector.shape}, not ({self.width},)")

    def apply(self, numbers: np.ndarray) -> np.ndarray:
        """Scale a float64 matrix in place and return it."""
        if self.mean is not None:
            numbers -= self.mean
        if self.scale is not None:
            numbers /= self.scale
        return numbers


class CompiledTransformation:
    """One-hot blocks then scaled numbers, as the reference joins them, without scikit-learn at request time."""

    def __init__(self, encoder: Any, scaler: Any) -> None:
        self.encoder = CompiledEncoder(encoder)
        self.scaler = CompiledScaler(scaler)
        self.width = self.encoder.width + self.scaler.width

    def transform(self, categorical: Sequence[Sequence[Any]], numeric: Sequence[Sequence[float]]) -> np.ndarray:
        """Return the feature matrix of rows given as categorical tuples and numeric tuples."""
        out = np.zeros((len(categorical), self.width), dtype=np.float64)
        self.encoder.fill(out, categorical)
        if len(numeric):
            out[:, self.encoder.width :] = self.scaler.apply(np.array(numeric, dtype=np.float64))
        return out

    def to_csv(self, categorical: Sequence[Sequence[Any]], numeric: Sequence[Sequence[float]]) -> str:
        """Return the rows as `text/csv`, one line each, every number written as Python's repr(float)."""
        if not len(categorical):
            return ""
        csv_parts = self.encoder.csv_parts
        if not self.scaler.width:
            return "\n".join(",".join(csv_parts(c)) for c in categorical)
        numbers = float_rows(self.scaler.apply(np.array(numeric, dtype=np.float64)))
        prefix = self.encoder.csv_prefix
        return "\n".join([prefix(tuple(c)) + n for c, n in zip(categorical, numbers, strict=True)])


def _reprs(row: Sequence[float]) -> str:
    return ",".join(map(repr, row))


def float_rows(matrix: np.ndarray) -> list[str]:
    """Return each row of a float64 matrix as its values' repr() texts, comma-separated.

    repr(float) is the shortest text that parses back to the same double: the endpoint gets the same bits. It is
    also slow (about 0.4 us a value, most of a batch's CSV). pydantic-core's JSON writer gives the same shortest
    digits in the same layout about ten times faster, except that below 1e-4 it writes 0.00001 or 1.5e-7 where
    Python writes 1e-05 and 1.5e-07: rows holding such values (or NaN, infinity or 1e16 and over) are written
    with repr(). Checked at import on SAME_TEXT_SAMPLES, and by the tests against repr() on random doubles.
    """
    if not FAST_FLOATS:
        return [_reprs(row) for row in matrix.tolist()]
    rows = to_json(matrix.tolist()).decode()[2:-2].split("],[")
    magnitude = np.abs(matrix)
    other = ~((magnitude == 0) | ((magnitude >= FIXED_NOTATION[0]) & (magnitude < FIXED_NOTATION[1])))
    for i in np.flatnonzero(other.any(axis=1)).tolist():
        rows[i] = _reprs(matrix[i].tolist())
    return rows


FAST_FLOATS = to_json(list(SAME_TEXT_SAMPLES)).decode() == f"[{_reprs(SAME_TEXT_SAMPLES)}]"


def probe_rows(encoder: Any, scaler: Any) -> tuple[list[tuple[Any, ...]], list[tuple[float, ...]]]:
    """Return rows that use every category of every column, with numbers around and far from the training mean."""
    categories = [[plain(v) for v in column] for column in encoder.categories_]
    widths = int(scaler.n_features_in_)
    mean = [float(m) for m in (scaler.mean_ if getattr(scaler, "mean_", None) is not None else [0.0] * widths)]
    count = max(max(len(c) for c in categories), len(PROBE_NUMBERS))
    categorical = [tuple(column[i % len(column)] for column in categories) for i in range(count)]
    numeric = [
        tuple(mean[j] if (i + j) % 3 == 0 else PROBE_NUMBERS[(i + j) % len(PROBE_NUMBERS)] for j in range(widths))
        for i in range(count)
    ]
    return categorical, numeric


def reference_transform(encoder: Any, scaler: Any, categorical: Sequence[Any], numeric: Sequence[Any]) -> np.ndarray:
    """Return scikit-learn's own output for the rows: encoded (dense) then scaled, as float64."""
    encoded = encoder.transform(np.array(categorical, dtype=object))
    if hasattr(encoded, "toarray"):
        encoded = encoded.toarray()
    scaled = scaler.transform(np.array(numeric, dtype=np.float64))
    return np.hstack([np.asarray(encoded, dtype=np.float64), np.asarray(scaled, dtype=np.float64)])


def reference_csv(matrix: np.ndarray) -> str:
    """Render a feature matrix the plain way: every value through repr(float)."""
    return "\n".join(",".join(repr(float(v)) for v in row) for row in matrix)


def compile_transformation(encoder: Any, scaler: Any) -> CompiledTransformation:
    """Compile the estimators and prove the result equal to scikit-learn's; raise NotCompilable or MismatchError."""
    compiled = CompiledTransformation(encoder, scaler)
    categorical, numeric = probe_rows(encoder, scaler)
    expected = reference_transform(encoder, scaler, categorical, numeric)
    ours = compiled.transform(categorical, numeric)
    if ours.shape != expected.shape or not np.array_equal(ours, expected):
        raise MismatchError("the compiled transformation differs from scikit-learn's transform on the probe rows")
    if compiled.to_csv(categorical, numeric) != reference_csv(expected):
        raise MismatchError("the compiled transformation's CSV differs from scikit-learn's values on the probe rows")
    return compiled
