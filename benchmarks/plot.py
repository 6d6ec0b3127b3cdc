"""Plot the per-record cost of each variant against the batch size to docs/performance.png."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def per_record_figure(per_record: dict[str, dict[str, float]], machine: str, out: Path) -> None:
    """Draw one line per variant: microseconds per record (log) against records per request (log)."""
    figure, axes = plt.subplots(figsize=(9, 5.5), dpi=110)
    for name, by_size in per_record.items():
        sizes = [int(n) for n in by_size]
        axes.plot(sizes, list(by_size.values()), marker="o", label=name)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("customers per request")
    axes.set_ylabel("microseconds per customer (median)")
    axes.set_title(f"churn-api warm path, per customer ({machine})", fontsize=10)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=7, loc="upper right")
    figure.tight_layout()
    figure.savefig(out)
    plt.close(figure)
