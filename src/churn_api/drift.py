"""Population stability: how far the customers scored have moved from the ones the model learned from.

Written once for `make drift` (local/churn_local/drift/) and the scheduled check the stack deploys
(src/churn_api/drift_handler.py). Training writes the baseline (`baseline_of`): for each number, ten bins cut at the
training split's deciles and their counts; for each category, its count (and an "other" bin for values never seen);
for the score, its deciles and counts. `stability` bins new values the same way and returns, per feature and for the
score, the population stability index PSI = sum((a - e) * ln(a / e)) over the bins, where e and a are the baseline's
and the new values' shares. Both shares are smoothed (half a count added to every bin) so that an empty bin costs a
bounded amount instead of an infinite one. Rule of thumb: under 0.1 stable, 0.1 to 0.2 moving, over 0.2 drifted.

numpy's quantiles, searchsorted and bincount are the statistics; the formula is one line over them. The libraries that
ship PSI (evidently, nannyml) bring pandas and plotting stacks the Lambda package must not carry.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

BASELINE_FORMAT = 1
BINS = 10
SMOOTHING = 0.5
# The name the score's row has beside the features', in a report and a metric.
SCORE = "score"
# The PSI above which a feature or the score counts as drifted (the usual rule of thumb).
DEFAULT_ALARM_PSI = 0.2
# The bin every category the baseline never saw falls in.
OTHER = "<other>"


class BaselineError(ValueError):
    """A baseline document is malformed or of another format."""


def decile_edges(values: Sequence[float], bins: int = BINS) -> list[float]:
    """Return the inner bin edges cutting values at their quantiles (repeated edges merged: discrete values)."""
    inner = np.quantile(np.asarray(values, dtype=np.float64), np.linspace(0, 1, bins + 1)[1:-1])
    return [float(edge) for edge in np.unique(inner)]


def numeric_counts(values: Sequence[float], edges: Sequence[float]) -> list[int]:
    """Count values per bin: (-inf, e0], (e0, e1], ... (e_last, inf)."""
    places = np.searchsorted(np.asarray(edges, dtype=np.float64), np.asarray(values, dtype=np.float64), side="left")
    return [int(c) for c in np.bincount(places, minlength=len(edges) + 1)]


def category_counts(values: Iterable[Any], categories: Sequence[str]) -> list[int]:
    """Count values per category (compared as text), the last bin holding every value not among them."""
    place = {category: i for i, category in enumerate(categories)}
    counts = [0] * (len(categories) + 1)
    for value in values:
        counts[place.get(str(value), len(categories))] += 1
    return counts


def psi(expected: Sequence[int], actual: Sequence[int]) -> float:
    """Return the population stability index of two bin counts, both smoothed by SMOOTHING a bin."""
    e = np.asarray(expected, dtype=np.float64) + SMOOTHING
    a = np.asarray(actual, dtype=np.float64) + SMOOTHING
    e, a = e / e.sum(), a / a.sum()
    return float(np.sum((a - e) * np.log(a / e)))


@dataclass(frozen=True)
class Binned:
    """One feature's (or the score's) bins: edges for a number, categories for a category, and the baseline counts."""

    counts: list[int]
    edges: list[float] | None = None
    categories: list[str] | None = None

    def count(self, values: Sequence[Any]) -> list[int]:
        """Count new values in these bins."""
        if self.categories is not None:
            return category_counts(values, self.categories)
        return numeric_counts([float(v) for v in values], self.edges or [])

    def as_json(self) -> dict[str, Any]:
        """Return the bins as the baseline document holds them."""
        kind = {"categories": self.categories} if self.categories is not None else {"edges": self.edges}
        return {**kind, "counts": self.counts}


def numeric(values: Sequence[float]) -> Binned:
    """Bin a number at its deciles."""
    edges = decile_edges(values)
    return Binned(numeric_counts(values, edges), edges=edges)


def categorical(values: Sequence[Any]) -> Binned:
    """Bin a category by its values seen (as text, sorted), plus the empty "other" bin."""
    categories = sorted({str(v) for v in values})
    return Binned(category_counts(values, categories), categories=categories)


@dataclass(frozen=True)
class Baseline:
    """What the model learned from: every feature's bins and the score's."""

    features: dict[str, Binned]
    score: Binned

    def stability(self, features: Mapping[str, Sequence[Any]], scores: Sequence[float] | None) -> dict[str, float]:
        """Return the PSI of each feature given (and of the scores, if given) against this baseline."""
        return self.stability_of(self.counts(features, scores))

    def counts(self, features: Mapping[str, Sequence[Any]], scores: Sequence[float] | None) -> dict[str, list[int]]:
        """Count each feature's values given (and the scores, if given) in this baseline's bins."""
        counted = {name: bins.count(features[name]) for name, bins in self.features.items()}
        if scores is not None:
            counted[SCORE] = self.score.count(scores)
        return counted

    def stability_of(self, counted: Mapping[str, Sequence[int]]) -> dict[str, float]:
        """Return the PSI of counts made in this baseline's bins (`counts`), by name."""
        bins = {**self.features, SCORE: self.score}
        return {name: psi(bins[name].counts, actual) for name, actual in counted.items()}

    def to_bytes(self) -> bytes:
        """Return the baseline document (baseline.json): stable bytes for the same training."""
        document = {
            "format": BASELINE_FORMAT,
            "psi": "sum((a - e) * ln(a / e)) over the bins, both shares smoothed by 0.5 a bin",
            "features": {name: bins.as_json() for name, bins in self.features.items()},
            SCORE: self.score.as_json(),
        }
        return (json.dumps(document, indent=1, sort_keys=True) + "\n").encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Baseline:
        """Read a baseline document, refusing one of another format or shape."""
        try:
            document = json.loads(data)
            if document.get("format") != BASELINE_FORMAT:
                raise BaselineError(f"baseline format {document.get('format')!r}, expected {BASELINE_FORMAT}")
            return cls({name: _binned(b) for name, b in document["features"].items()}, _binned(document[SCORE]))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BaselineError(f"not a baseline document: {exc}") from exc


def _binned(document: Mapping[str, Any]) -> Binned:
    counts = [int(c) for c in document["counts"]]
    if "categories" in document:
        categories = [str(c) for c in document["categories"]]
        if len(counts) != len(categories) + 1:
            raise BaselineError("a category's counts do not match its categories")
        return Binned(counts, categories=categories)
    edges = [float(e) for e in document["edges"]]
    if len(counts) != len(edges) + 1:
        raise BaselineError("a number's counts do not match its edges")
    return Binned(counts, edges=edges)


def baseline_of(
    numbers: Mapping[str, Sequence[float]], categories: Mapping[str, Sequence[Any]], scores: Sequence[float]
) -> Baseline:
    """Make the baseline of a training: each number binned at its deciles, each category by value, the scores."""
    features = {name: numeric(values) for name, values in numbers.items()}
    features.update({name: categorical(values) for name, values in categories.items()})
    return Baseline(features, numeric(scores))


def drifted(report: Mapping[str, float], alarm_psi: float = DEFAULT_ALARM_PSI) -> list[str]:
    """Return the features (and "score") whose PSI is over the alarm level, the largest first."""
    return [name for name, value in sorted(report.items(), key=lambda kv: -kv[1]) if value > alarm_psi]
