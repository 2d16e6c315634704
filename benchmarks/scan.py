"""Scans: time against T (linear, as BPTT must be) and against H, each axis one round-robin, as plots."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from problem import Config
from timing import Result, measure

__all__ = ["scan_configs", "scan"]


def scan_configs(quick: bool) -> dict[str, list[Config]]:
    if quick:
        return {"T": [Config(t, 2, 3, 4, 3) for t in (2, 4, 8)], "H": [Config(3, 2, 3, h, 3) for h in (2, 4, 8)]}
    return {"T": [Config(t, 8, 32, 64, 32) for t in (25, 50, 100, 200, 400, 800)],
            "H": [Config(50, 32, 64, h, 64) for h in (16, 32, 64, 128, 256, 512)]}


def scan(cell: str, dtype: Any, impl_names: Sequence[str], prefix: Path, quick: bool, budget: float,
         reps: int | None) -> dict[str, list[dict]]:
    """Measure along T and along H (each axis in one round-robin) and save ``<prefix>-T.png``, ``<prefix>-H.png``."""
    out: dict[str, list[dict]] = {}
    for axis, configs in scan_configs(quick).items():
        results = measure(cell, configs, dtype, impl_names, reps, budget * len(configs), warmup=1)
        out[axis] = [asdict(r) for r in results]
        path = Path(f"{prefix}-{axis}.png")
        _plot(axis, configs, results, cell, dtype, path)
        print(f"saved {path}", flush=True)
    return out


def _plot(axis: str, configs: Sequence[Config], results: Sequence[Result], cell: str, dtype: Any, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [getattr(c, axis) for c in configs]
    lines = {impl: [r for r in results if r.impl == impl] for impl in dict.fromkeys(r.impl for r in results)}
    panels = 3 if axis == "T" else 2
    fig, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 4.2))
    for impl, rows in lines.items():
        per_step = [r.median_s / r.T * 1e6 for r in rows]
        if axis == "T":
            total = [r.median_s * 1e3 for r in rows]
            line, = axes[0].plot(xs, total, "o", label=impl)
            slope = np.dot(xs, total) / np.dot(xs, xs)  # least squares through the origin
            axes[0].plot([0, xs[-1]], [0, slope * xs[-1]], "--", color=line.get_color(), linewidth=0.9)
            axes[1].plot(xs, per_step, "o-", label=impl)
        else:
            axes[0].loglog(xs, per_step, "o-", label=impl)
        axes[-1].plot(xs, [r.ratio_to_numpy for r in rows], "o-", label=impl)
    if axis == "T":
        axes[0].set(xlabel="T", ylabel="forward + backward, ms", title="total time against T (dashed: a line)")
        axes[1].set(xlabel="T", ylabel="per time step, us", title="time per step (flat = linear in T)",
                    xscale="log", ylim=(0, None))
    else:
        axes[0].set(xlabel="H", ylabel="per time step, us", title="time per step against H")
    axes[-1].set(xlabel=axis, ylabel="ratio of medians to the numpy floor", title="ratio to the floor", xscale="log")
    axes[-1].axhline(1.0, color="grey", linewidth=0.8)
    for ax in axes:
        if ax.get_xscale() == "log":
            ax.set_xticks(xs, [str(x) for x in xs])
            ax.minorticks_off()
        ax.grid(True, alpha=0.3)
    axes[0].legend()
    fixed = ", ".join(f"{k}={v}" for k, v in asdict(configs[0]).items() if k != axis)
    fig.suptitle(f"{cell.upper()} {np.dtype(dtype).name}, one BLAS thread, {fixed}; medians, interleaved")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
