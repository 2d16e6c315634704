"""Time per graph node: ours against a minimal numpy engine's per-node floor (micro_engine.py).

An engine on numpy pays, for every node it records, Python work on top of the numpy work:
making the node, recording how to send its gradient back, and later calling that. The
hand-written floor (numpy_bptt.py) does the numpy work with none of it. For each problem,
the floor, ours and the micro engine (the same graph on the least engine Python allows) are
verified, then timed in one round-robin with forward and backward timed apart. Per graph node
the report gives each engine's time, and its time above the floor's in the same round: the
engine's own cost per node. The micro engine's is the per-node floor.

    python benchmarks/node_cost.py                   # LSTM (100, 1, 16, 32, 16), float64
    python benchmarks/node_cost.py --cells lstm gru rnn --configs 100,1,16,32,16 50,32,64,128,64
"""
from __future__ import annotations

import machine  # first: pins BLAS to one thread before numpy loads

# isort: split
import argparse
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import implementations
import micro_engine
import numpy as np
from implementations import Ours
from problem import CELLS, Config, make_problem
from timing import Phased, time_round_robin

import micrograd_seq as mg

__all__ = ["ENGINES", "count_nodes", "measure_node_cost", "print_node_cost", "markdown", "main"]

ENGINES = ("ours", "micro engine")
DEFAULT_CONFIG = Config(100, 1, 16, 32, 16)
LEAVES = 6  # the parameters: leaves that get a gradient, counted as nodes by both engines


def count_nodes(cell: str, config: Config, dtype: Any) -> dict[str, int]:
    """Graph nodes a forward+backward visits in each engine (ours: as mg.viz.backward_order counts them)."""
    problem = make_problem(cell, config, dtype)
    loss = Ours(problem).forward()
    visited = re.match(r"backward\(\) visited (\d+) nodes", mg.viz.backward_order(loss))
    if visited is None:
        raise RuntimeError("node_cost: mg.viz.backward_order no longer starts with 'backward() visited N nodes'")
    micro = micro_engine.MicroEngine(cell, problem.model.numpy_params(), problem.x, problem.targets)
    micro.forward()
    counts = {"ours": int(visited[1]), "micro engine": micro_engine.nodes_recorded() + LEAVES}
    micro_engine.discard()
    return counts


def nodes_per_step(cell: str, config: Config, dtype: Any) -> dict[str, int]:
    """Nodes one more time step adds, in each engine (counted on 3 and 2 steps of the same sizes)."""
    two, three = (count_nodes(cell, Config(T, config.B, config.D, config.H, config.K), dtype) for T in (2, 3))
    return {name: three[name] - two[name] for name in ENGINES}


def _per_node(seconds: np.ndarray, nodes: int) -> dict[str, float]:
    """Median microseconds per node of (rounds, 2) forward and backward seconds, and of their sum."""
    return {"forward": float(np.median(seconds[:, 0])) / nodes * 1e6,
            "backward": float(np.median(seconds[:, 1])) / nodes * 1e6,
            "total": float(np.median(seconds.sum(axis=1))) / nodes * 1e6}


def measure_node_cost(cell: str, config: Config, dtype: Any, budget: float, reps: int | None, warmup: int = 1,
                      seed: int = 0) -> dict[str, Any]:
    """Verify and time floor, ours and the micro engine on one problem; their costs per node, forward and backward.

    "above floor" is the median over rounds of (engine - floor) in the same round, per node.
    """
    problem = make_problem(cell, config, dtype, seed)
    names = implementations.FLOORS + ENGINES
    impls = [Phased(impl) for impl in implementations.make_implementations(problem, names)]
    errors = implementations.verify(impls, problem.dtype)
    rounds = len(time_round_robin(impls, reps, budget, warmup, min_reps=5, max_reps=201)[0])
    seconds = {impl.name: np.array(impl.phases[-rounds:]) for impl in impls}  # (rounds, 2): forward, backward
    floor_name = min(implementations.FLOORS, key=lambda name: np.median(seconds[name].sum(axis=1)))
    floor = seconds[floor_name]
    nodes, per_step = count_nodes(cell, config, dtype), nodes_per_step(cell, config, dtype)
    engines: dict[str, dict[str, Any]] = {name: {"nodes": nodes[name], "nodes_per_step": per_step[name],
                      "forward_ms": float(np.median(seconds[name][:, 0])) * 1e3,
                      "backward_ms": float(np.median(seconds[name][:, 1])) * 1e3,
                      "us_per_node": _per_node(seconds[name], nodes[name]),
                      "above_floor_us_per_node": _per_node(seconds[name] - floor, nodes[name]),
                      "max_error": errors[name]}
               for name in ENGINES}
    ours, micro = (engines[name]["above_floor_us_per_node"]["total"] for name in ENGINES)
    return {"cell": cell, "config": str(config), "dtype": np.dtype(dtype).name, "rounds": rounds,
            "floor": floor_name, "floor_forward_ms": float(np.median(floor[:, 0])) * 1e3,
            "floor_backward_ms": float(np.median(floor[:, 1])) * 1e3,
            "engines": engines, "ours_over_micro": ours / micro}


def print_node_cost(row: dict[str, Any]) -> None:
    print(f"\nTime per graph node: {row['cell'].upper()} {row['config']} {row['dtype']}, medians over {row['rounds']} "
          f"rounds; the floor ({row['floor']!r}, hand-written) takes {row['floor_forward_ms']:.3f} ms forward + "
          f"{row['floor_backward_ms']:.3f} ms backward")
    print(f"{'engine':13} {'nodes':>7} {'per step':>8} {'forward ms':>10} {'backward ms':>11}   "
          f"{'us per node: fwd':>16} {'bwd':>6} {'total':>6}   {'above floor: fwd':>16} {'bwd':>6} {'total':>6}")
    for name, e in row["engines"].items():
        each, above = e["us_per_node"], e["above_floor_us_per_node"]
        print(f"{name:13} {e['nodes']:7d} {e['nodes_per_step']:8d} {e['forward_ms']:10.3f} {e['backward_ms']:11.3f}   "
              f"{each['forward']:16.2f} {each['backward']:6.2f} {each['total']:6.2f}   "
              f"{above['forward']:16.2f} {above['backward']:6.2f} {above['total']:6.2f}")
    print(f"ours spends {row['ours_over_micro']:.2f} times the minimal engine's time per node above the floor")


def markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The per-node table of docs/performance.md."""
    lines = ["| problem | engine | nodes (per step) | us per node: forward | backward | above the floor: forward "
             "| backward | total | ours / minimal |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        for name, e in row["engines"].items():
            each, above = e["us_per_node"], e["above_floor_us_per_node"]
            ratio = f"**{row['ours_over_micro']:.2f}**" if name == "ours" else ""
            lines.append(f"| {row['cell'].upper()} {row['config']} {row['dtype']} | {name} | {e['nodes']} "
                         f"({e['nodes_per_step']}) | {each['forward']:.2f} | {each['backward']:.2f} | "
                         f"{above['forward']:.2f} | {above['backward']:.2f} | {above['total']:.2f} | {ratio} |")
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", nargs="+", choices=CELLS, default=["lstm"])
    parser.add_argument("--configs", nargs="+", type=Config.parse, metavar="T,B,D,H,K", default=[DEFAULT_CONFIG])
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    parser.add_argument("--budget", type=float, default=5.0, help="seconds of timed rounds per problem")
    parser.add_argument("--reps", type=int, help="timed rounds per problem (default: fit --budget)")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    if args.reps is not None and args.reps < 1:
        parser.error("--reps must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    print(machine.describe(machine.record()))
    rows = [measure_node_cost(cell, config, args.dtype, args.budget, args.reps)
            for config in args.configs for cell in args.cells]
    for row in rows:
        print_node_cost(row)
    print(f"\nload average at the end: {machine.load_average()}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"machine": machine.record(), "node_cost": rows}, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
