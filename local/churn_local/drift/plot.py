"""Draw the drift report: each feature's PSI against the alarm level, and the bins of the ones that moved most."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from churn_api.drift import SMOOTHING, Binned

DRIFTED = "#c8423b"
STABLE = "#2a7f9e"
BASELINE = "#8a8a8a"
# The features whose bins are drawn beside the PSI chart, the most drifted first.
SHOWN = 3


def _shares(counts: Sequence[int]) -> np.ndarray:
    smoothed = np.asarray(counts, dtype=np.float64) + SMOOTHING
    shares: np.ndarray = smoothed / smoothed.sum()
    return shares


def _labels(bins: Binned) -> list[str]:
    if bins.categories is not None:
        return [*bins.categories, "other"]
    edges = bins.edges or []
    return [f"<= {edges[0]:.4g}", *(f"<= {e:.4g}" for e in edges[1:]), f"> {edges[-1]:.4g}"] if edges else ["all"]


def render(
    report: Mapping[str, float],
    bins: Mapping[str, Binned],
    actual: Mapping[str, Sequence[int]],
    alarm_psi: float,
    title: str,
) -> bytes:
    """Return the PNG: PSI per feature (sorted, the alarm level marked), then the shares of the top ones' bins."""
    ordered = sorted(report.items(), key=lambda kv: kv[1])
    top = [name for name, _ in sorted(report.items(), key=lambda kv: -kv[1])[:SHOWN]]
    figure = Figure(figsize=(14, 2.2 + 0.32 * len(ordered) + 3.2 * len(top)), layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(1 + len(top), 1, height_ratios=[max(3, 0.32 * len(ordered)), *[3] * len(top)])
    psi_ax = figure.add_subplot(grid[0])
    colours = [DRIFTED if value > alarm_psi else STABLE for _, value in ordered]
    psi_ax.barh([name for name, _ in ordered], [value for _, value in ordered], color=colours)
    psi_ax.axvline(alarm_psi, color="#222222", linestyle="--", label=f"alarm level {alarm_psi:g}")
    psi_ax.set(xlabel="Population stability index (PSI)", title=title)
    psi_ax.legend(loc="lower right")
    for row, name in enumerate(top, start=1):
        ax = figure.add_subplot(grid[row])
        labels = _labels(bins[name])
        x = np.arange(len(labels))
        ax.bar(x - 0.2, _shares(bins[name].counts), width=0.4, color=BASELINE, label="baseline (training)")
        ax.bar(x + 0.2, _shares(actual[name]), width=0.4, color=DRIFTED if report[name] > alarm_psi else STABLE,
               label="this file")  # fmt: skip
        ax.set_xticks(x, labels, rotation=90 if len(labels) > 12 else 0, fontsize=7 if len(labels) > 12 else 9)
        ax.set(ylabel="share", title=f"{name}: PSI {report[name]:.3f}")
        ax.legend(loc="upper right")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, metadata={"Software": None})
    return buffer.getvalue()
