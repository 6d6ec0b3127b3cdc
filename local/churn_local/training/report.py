"""Render the training evaluation: a PNG for people to look at and a plain-text table for the terminal."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter
from sklearn.metrics import roc_curve

CHURN = "#c8423b"
STAY = "#2a7f9e"
THRESHOLD = "#222222"
OPTIMAL = "#e0962b"
MUTED = "#8a8a8a"


def _label(kind: str, threshold: float) -> str:
    return f"{kind} threshold {threshold:.2f}"


def _operating_point(y_true: np.ndarray, scores: np.ndarray, threshold: float) -> tuple[float, float]:
    predicted = scores > threshold
    positives = y_true == 1
    return float(predicted[~positives].mean()), float(predicted[positives].mean())


def render(y_true: np.ndarray, scores: np.ndarray, metrics: Mapping[str, Any], *, costs: Mapping[str, float]) -> bytes:
    """Draw ROC, per-class score distributions and the cost curve, both thresholds marked; return PNG bytes."""
    threshold = float(metrics["threshold"])
    optimal = float(metrics["cost_optimal"]["threshold"])
    n = len(y_true)

    # A bare Figure with the Agg canvas: no pyplot global state, safe to call from any thread.
    fig = Figure(figsize=(16, 5.4), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    roc_ax, dist_ax, cost_ax = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1.25, 1.1]})
    fig.suptitle(
        f"Churn model on {n:,} held-out customers ({y_true.mean():.0%} churn) — "
        f"AUC {metrics['auc']:.3f}, accuracy {metrics['accuracy']:.1%} at threshold {threshold:.2f}",
        fontsize=14,
        fontweight="bold",
    )

    fpr, tpr, _ = roc_curve(y_true, scores)
    roc_ax.plot([0, 1], [0, 1], color=MUTED, linestyle=":", linewidth=1, label="chance (AUC 0.5)")
    roc_ax.fill_between(fpr, tpr, step="post", color=CHURN, alpha=0.08)
    roc_ax.step(fpr, tpr, where="post", color=CHURN, linewidth=2, label=f"model (AUC {metrics['auc']:.3f})")
    for value, colour, kind, marker in (
        (threshold, THRESHOLD, "decision", "o"),
        (optimal, OPTIMAL, "cost-optimal", "D"),
    ):
        x, y = _operating_point(y_true, scores, value)
        roc_ax.plot(x, y, marker=marker, markersize=9, color=colour, linestyle="none", label=_label(kind, value))
    roc_ax.set(xlim=(-0.01, 1.01), ylim=(-0.01, 1.01), xlabel="False positive rate (stayers flagged)")
    roc_ax.set_ylabel("True positive rate (churners caught)")
    roc_ax.set_title("ROC curve", loc="left", fontsize=12)
    roc_ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    roc_ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    roc_ax.legend(loc="lower right", frameon=False, fontsize=9)
    roc_ax.grid(alpha=0.25)
    zoom = roc_ax.inset_axes((0.3, 0.36, 0.62, 0.46))
    zoom.step(fpr, tpr, where="post", color=CHURN, linewidth=2)
    for value, colour, marker in ((threshold, THRESHOLD, "o"), (optimal, OPTIMAL, "D")):
        x, y = _operating_point(y_true, scores, value)
        zoom.plot(x, y, marker=marker, markersize=8, color=colour, linestyle="none")
    zoom.set(xlim=(0, 0.3), ylim=(0.7, 1.0))
    zoom.set_title("top-left corner, zoomed", fontsize=9)
    zoom.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    zoom.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    zoom.tick_params(labelsize=8)
    zoom.grid(alpha=0.25)

    # Mirrored histogram: stayers above the axis, churners below, so the overlap near the thresholds stays
    # visible instead of hiding behind the tall bars at either end.
    bins = np.linspace(0.0, 1.0, 41)
    stayed, _ = np.histogram(scores[y_true == 0], bins=bins)
    churned, _ = np.histogram(scores[y_true == 1], bins=bins)
    width = bins[1] - bins[0]
    dist_ax.bar(
        bins[:-1],
        stayed,
        width=width,
        align="edge",
        color=STAY,
        alpha=0.75,
        edgecolor="white",
        linewidth=0.5,
        label=f"stayed ({int((y_true == 0).sum()):,})",
    )
    dist_ax.bar(
        bins[:-1],
        -churned,
        width=width,
        align="edge",
        color=CHURN,
        alpha=0.75,
        edgecolor="white",
        linewidth=0.5,
        label=f"churned ({int((y_true == 1).sum()):,})",
    )
    dist_ax.axhline(0, color=MUTED, linewidth=0.8)
    dist_ax.axvspan(threshold, 1.0, color=CHURN, alpha=0.05)
    dist_ax.axvline(threshold, color=THRESHOLD, linewidth=2, label=_label("decision", threshold))
    dist_ax.axvline(optimal, color=OPTIMAL, linewidth=2, linestyle="--", label=_label("cost-optimal", optimal))
    top = max(int(stayed.max()), int(churned.max())) * 1.15
    dist_ax.set(xlim=(0, 1), ylim=(-top, top), xlabel="Predicted churn score")
    dist_ax.yaxis.set_major_formatter(lambda value, _pos: f"{abs(value):,.0f}")
    dist_ax.set_ylabel("Customers  (churned below the line)")
    matrix = metrics["confusion_matrix"]
    box = {"boxstyle": "round,pad=0.3", "facecolor": "white", "edgecolor": MUTED, "alpha": 0.9}
    dist_ax.text(
        threshold + 0.02,
        top * 0.55,
        f"{matrix['fp']} stayers flagged\n(offer not needed)",
        color=STAY,
        fontsize=10,
        va="center",
        bbox=box,
    )
    dist_ax.text(
        threshold - 0.02,
        -top * 0.55,
        f"{matrix['fn']} churners missed",
        color=CHURN,
        fontsize=10,
        ha="right",
        va="center",
        bbox=box,
    )
    dist_ax.set_title(f"Scores by what really happened; flagged right of {threshold:.2f}", loc="left", fontsize=12)
    dist_ax.legend(loc="upper center", frameon=False, fontsize=9, ncols=2)
    dist_ax.grid(axis="y", alpha=0.25)

    curve = metrics["cost_curve"]
    per_customer = np.asarray(curve["costs"]) / n
    baselines = metrics["baselines"]
    cost_ax.plot(curve["thresholds"], per_customer, color=THRESHOLD, linewidth=2, label="model")
    cost_ax.axhline(baselines["cost_offer_nobody"] / n, color=CHURN, linestyle=":", label="offer nobody")
    cost_ax.axhline(baselines["cost_offer_everybody"] / n, color=STAY, linestyle=":", label="offer everybody")
    best = metrics["cost_optimal"]["cost"] / n
    cost_ax.plot(
        optimal, best, marker="D", markersize=9, color=OPTIMAL, linestyle="none", label=_label("cost-optimal", optimal)
    )
    cost_ax.plot(
        threshold,
        metrics["cost"] / n,
        marker="o",
        markersize=9,
        color=THRESHOLD,
        linestyle="none",
        label=_label("decision", threshold),
    )
    cost_ax.set(xlim=(0, 1), xlabel="Threshold (flag when score > threshold)", ylabel="Cost per customer")
    cost_ax.set_title(
        f"Cost: missed churner {costs['fn']:g}, offer {costs['fp']:g} (to a churner {costs['tp']:g})",
        loc="left",
        fontsize=12,
    )
    cost_ax.yaxis.set_major_formatter("{x:,.0f}")
    cost_ax.legend(loc="center", bbox_to_anchor=(0.5, 0.55), frameon=False, fontsize=9)
    cost_ax.grid(alpha=0.25)

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", facecolor="white")
    return buffer.getvalue()


def _money(value: float) -> str:
    return f"{value:,.0f}"


def summary(metadata: Mapping[str, Any]) -> str:
    """Return the evaluation as an aligned plain-text table."""
    m = metadata["metrics"]
    split = metadata["split"]
    costs = metadata["costs"]
    base = m["baselines"]
    cm = m["confusion_matrix"]
    opt = m["cost_optimal"]
    ocm = opt["confusion_matrix"]
    n = split["test_rows"]
    t = m["threshold"]
    lines = [
        f"Held-out evaluation: {n:,} of {metadata['data']['rows']:,} customers "
        f"({split['test_churn_rate']:.1%} churn), seed {metadata['seed']}",
        "",
        f"  {'metric':<28}{'model':>10}   baseline",
        f"  {'AUC':<28}{m['auc']:>10.3f}   {base['random_auc']:.3f} (random scores)",
        f"  {f'accuracy @ {t:.2f}':<28}{m['accuracy']:>10.3f}   {base['majority_class_accuracy']:.3f} (majority class)",
        f"  {f'precision @ {t:.2f}':<28}{m['precision']:>10.3f}",
        f"  {f'recall @ {t:.2f}':<28}{m['recall']:>10.3f}",
        "",
        f"  {f'confusion matrix @ {t:.2f}':<28}{'pred. stay':>12}{'pred. churn':>13}",
        f"  {'  actual stay':<28}{cm['tn']:>12,}{cm['fp']:>13,}",
        f"  {'  actual churn':<28}{cm['fn']:>12,}{cm['tp']:>13,}",
        "",
        f"  cost: missed churner {costs['fn']:g}, offer to a stayer {costs['fp']:g}, "
        f"offer to a churner {costs['tp']:g}, stayer left alone {costs['tn']:g}",
        f"  {f'  at threshold {t:.2f}':<28}{_money(m['cost']):>10}   ({m['cost'] / n:,.1f} per customer)",
        f"  {f'  cost-optimal {opt["threshold"]:.2f}':<28}{_money(opt['cost']):>10}   "
        f"({opt['cost'] / n:,.1f} per customer; {ocm['fn']} missed, {ocm['fp']} needless offers)",
        f"  {'  offer nobody':<28}{_money(base['cost_offer_nobody']):>10}",
        f"  {'  offer everybody':<28}{_money(base['cost_offer_everybody']):>10}",
        "  (the cost-optimal threshold is picked on this same held-out set, so its cost is optimistic)",
    ]
    return "\n".join(lines)
