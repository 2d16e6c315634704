"""Reports of a run: the table, the issue's goals, ours against an earlier run, and markdown for the docs."""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from implementations import FLOORS
from problem import Config
from timing import Result

__all__ = ["Goal", "GOALS", "print_table", "evaluate_goals", "print_goals", "print_baseline", "markdown"]


@dataclass(frozen=True)
class Goal:
    """Ours' median over ``against``'s median in the same run (float64, one thread) must be at most ``limit``."""

    cell: str
    config: Config
    limit: float
    against: str = "floor"  # the run's numpy floor, or an implementation's name
    strict: bool = False  # below the limit, not at it
    note: str = ""

    def text(self) -> str:
        bound = f"< {self.limit:g}" if self.strict else f"<= {self.limit:g}"
        return f"ours / {self.against} {bound}"


SMALL, MEDIUM, LONG = Config(100, 1, 16, 32, 16), Config(50, 32, 64, 128, 64), Config(1000, 8, 32, 64, 32)
# Issue 16's goals against the tightened floor.
GOALS = (Goal("lstm", SMALL, 3.0, note="per-node overhead"),
         Goal("lstm", MEDIUM, 1.2),
         Goal("gru", MEDIUM, 1.2),
         Goal("rnn", MEDIUM, 1.3),
         Goal("lstm", LONG, 2.0),
         Goal("lstm", SMALL, 1.0, against="torch.nn fused", strict=True, note="faster than torch.nn.LSTM"))


def print_table(results: Sequence[Result]) -> None:
    header = f"{'cell':5} {'dtype':7} {'(T, B, D, H, K)':24} {'implementation':15} {'median ms':>10} " \
             f"{'IQR ms':>15} {'us/step':>9} {'/floor':>7} {'paired':>7} {'reps':>4} {'max err':>8}"
    print(header)
    print("-" * len(header))
    previous = None
    for r in results:
        key = (r.cell, r.dtype, r.config)
        if previous is not None and key != previous:
            print()
        previous = key
        print(f"{r.cell:5} {r.dtype:7} {str(r.config):24} {r.impl:15} {r.median_s * 1e3:10.3f} "
              f"{f'{r.q1_s * 1e3:.3f}-{r.q3_s * 1e3:.3f}':>15} {r.median_s / r.T * 1e6:9.1f} "
              f"{r.ratio_to_numpy:7.2f} {r.paired_ratio:7.2f} {r.reps:4d} {r.max_error:8.1e}"
              + ("  <- the floor" if r.impl == r.floor else ""))


def _ratio(found: dict, cell: str, config: Config, impl: str, against: str) -> tuple[float, float] | None:
    """(ratio of medians, median of per-round ratios) of ``impl`` to ``against``, or None if either is missing."""
    a = found.get((cell, config, impl))
    if a is not None and against == "floor":
        against = a.floor
    b = found.get((cell, config, against))
    if a is None or b is None:
        return None
    return a.median_s / b.median_s, float(np.median(np.divide(a.samples_s, b.samples_s)))


def evaluate_goals(results: Sequence[Result], goals: Sequence[Goal] = GOALS) -> list[dict[str, Any]]:
    """The goals whose configuration was measured (float64), with ours' and the peers' ratios now."""
    found = {(r.cell, r.config, r.impl): r for r in results if r.dtype == "float64"}
    rows = []
    for goal in goals:
        ours = _ratio(found, goal.cell, goal.config, "ours", goal.against)
        if ours is None:
            continue
        peers = {impl: _ratio(found, goal.cell, goal.config, impl, goal.against)
                 for impl in ("torch autograd", "torch.nn fused")}
        met = ours[0] < goal.limit if goal.strict else ours[0] <= goal.limit
        rows.append({"cell": goal.cell, "config": str(goal.config), "goal": goal.text(), "against": goal.against,
                     "limit": goal.limit, "ours": ours[0], "ours_paired": ours[1],
                     "torch_autograd": peers["torch autograd"][0] if peers["torch autograd"] else None,
                     "torch_fused": peers["torch.nn fused"][0] if peers["torch.nn fused"] else None,
                     "met": met, "note": goal.note})
    return rows


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def print_goals(rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    print("\nGoals (ratios of medians in this run, float64, one thread; paired = median of per-round ratios; "
          "the floor is the faster numpy form):")
    print(f"{'cell':5} {'(T, B, D, H, K)':24} {'goal':30} {'ours':>6} {'paired':>7} {'torch autograd':>15} "
          f"{'torch.nn fused':>15}  met")
    for row in rows:
        print(f"{row['cell']:5} {row['config']:24} {row['goal']:30} {row['ours']:6.2f} {row['ours_paired']:7.2f} "
              f"{_cell(row['torch_autograd']):>15} {_cell(row['torch_fused']):>15}  {'yes' if row['met'] else 'NO'}"
              + (f"  ({row['note']})" if row["note"] else ""))


def print_baseline(results: Sequence[Result], path: Path) -> None:
    """Ours now against ours in an earlier JSON (different runs: noisier than the interleaved ratios)."""
    before = {(r["cell"], r["dtype"], Config(r["T"], r["B"], r["D"], r["H"], r["K"])): r
              for r in json.loads(path.read_text())["results"] if r["impl"] == "ours"}
    print(f"\nOurs against {path}: medians and ratio to numpy (the ratio, measured within each run, is the fairer "
          "comparison); rows for docs/performance.md:")
    print("| change | config | before | after |")
    print("|---|---|---|---|")
    for r in results:
        old = before.get((r.cell, r.dtype, r.config))
        if r.impl == "ours" and old is not None:
            print(f"| ... | {r.cell.upper()} {r.config} {r.dtype} | {old['median_s'] * 1e3:.3g} ms "
                  f"({old['ratio_to_numpy']:.2f}x numpy) | {r.median_s * 1e3:.3g} ms ({r.ratio_to_numpy:.2f}x numpy) |")


def markdown(results: Sequence[Result], goal_rows: Sequence[dict[str, Any]]) -> str:
    """The tables of docs/performance.md: one per dtype, then the goals."""
    lines: list[str] = []
    for dtype in dict.fromkeys(r.dtype for r in results):
        rows = [r for r in results if r.dtype == dtype]
        peers = [impl for impl in dict.fromkeys(r.impl for r in rows) if impl not in FLOORS + ("ours",)]
        lines += [f"{dtype}:", "",
                  "| cell | (T, B, D, H, K) | floor ms (form) | ours ms | ours /floor | paired | "
                  + "".join(f"{peer} /floor | " for peer in peers) + "rounds |",
                  "|---|---|---:|---:|---:|---:|" + "---:|" * len(peers) + "---:|"]
        by_key = {(r.cell, r.config, r.impl): r for r in rows}
        for cell, config in dict.fromkeys((r.cell, r.config) for r in rows):
            ours = by_key.get((cell, config, "ours"))
            if ours is None:
                continue
            floor = by_key[(cell, config, ours.floor)]
            form = "fused" if floor.impl == "numpy fused" else "projected"
            peer_ratios = [by_key[key].ratio_to_numpy if key in by_key else None
                           for key in ((cell, config, peer) for peer in peers)]
            lines.append(f"| {cell.upper()} | {config} | {floor.median_s * 1e3:.3g} ({form}) | "
                         f"{ours.median_s * 1e3:.3g} | **{ours.ratio_to_numpy:.2f}** | {ours.paired_ratio:.2f} | "
                         + "".join(f"{_cell(ratio)} | " for ratio in peer_ratios) + f"{ours.reps} |")
        lines.append("")
    if goal_rows:
        lines += ["| goal | ours | paired | torch autograd | torch.nn fused | met |", "|---|---:|---:|---:|---:|---|"]
        for row in goal_rows:
            note = f": {row['note']}" if row["note"] else ""
            lines.append(f"| {row['cell'].upper()} {row['config']}{note}, {row['goal']} | {row['ours']:.2f} | "
                         f"{row['ours_paired']:.2f} | {_cell(row['torch_autograd'])} | {_cell(row['torch_fused'])} | "
                         f"{'yes' if row['met'] else 'no'} |")
        lines.append("")
    return "\n".join(lines)
