"""Reports of a run: the table, the goals, and ours against an earlier run."""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from problem import Config
from timing import Result

__all__ = ["GOALS", "print_table", "print_goals", "print_baseline"]


# The goals: ratio of medians ours / numpy at float64, one thread; and torch autograd's ratio then.
GOALS = [("lstm", Config(100, 1, 16, 32, 16), 3.0, 7.4, "per-node overhead"),
         ("lstm", Config(50, 32, 64, 128, 64), 1.2, 1.3, ""),
         ("gru", Config(50, 32, 64, 128, 64), 1.2, 1.4, ""),
         ("rnn", Config(50, 32, 64, 128, 64), 1.3, 1.5, ""),
         ("lstm", Config(1000, 8, 32, 64, 32), 2.0, 3.5, ""),
         ("lstm", Config(20, 64, 256, 512, 256), 1.1, 1.1, "matmul-bound")]


def print_table(results: Sequence[Result]) -> None:
    header = f"{'cell':5} {'dtype':7} {'(T, B, D, H, K)':24} {'implementation':15} {'median ms':>10} " \
             f"{'IQR ms':>15} {'us/step':>9} {'/numpy':>7} {'paired':>7} {'reps':>4} {'max err':>8}"
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
              f"{r.ratio_to_numpy:7.2f} {r.paired_ratio:7.2f} {r.reps:4d} {r.max_error:8.1e}")


def print_goals(results: Sequence[Result]) -> list[dict[str, Any]]:
    """The issue's goals next to the ratios measured now (float64 only)."""
    found = {(r.cell, r.config, r.impl): r for r in results if r.dtype == "float64"}
    rows = []
    for cell, config, goal, torch_then, note in GOALS:
        ours, peer = found.get((cell, config, "ours")), found.get((cell, config, "torch autograd"))
        if ours is None:
            continue
        rows.append({"cell": cell, "config": str(config), "goal": goal, "ours": ours.ratio_to_numpy,
                     "ours_paired": ours.paired_ratio, "torch_autograd": peer.ratio_to_numpy if peer else None,
                     "torch_autograd_in_issue": torch_then, "met": ours.ratio_to_numpy <= goal, "note": note})
    if rows:
        print("\nGoals (ratio of medians to hand-written numpy, float64, one thread):")
        print(f"{'cell':5} {'(T, B, D, H, K)':24} {'goal':>6} {'ours':>6} {'paired':>7} {'torch autograd':>15} "
              f"{'(issue)':>8}  met")
        for row in rows:
            torch_now = f"{row['torch_autograd']:.2f}" if row["torch_autograd"] is not None else "-"
            print(f"{row['cell']:5} {row['config']:24} {row['goal']:6.1f} {row['ours']:6.2f} {row['ours_paired']:7.2f} "
                  f"{torch_now:>15} {row['torch_autograd_in_issue']:8.1f}  {'yes' if row['met'] else 'NO'}"
                  + (f"  ({row['note']})" if row["note"] else ""))
    return rows


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
