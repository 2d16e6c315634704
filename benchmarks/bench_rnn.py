"""Time forward + BPTT of a recurrent model: micrograd_seq against hand-written numpy and PyTorch.

The model (problem.py): an RNN, LSTM or GRU layer (T steps, batch B, input D, hidden H), a
Linear head (K classes) on every step, and cross-entropy summed over all steps. Implementations
(implementations.py): the hand-written numpy floor every ratio is relative to, ours, torch
autograd over the same primitive cell, torch.nn's fused layer, and the minimal micro engine.
Every implementation must give the floor's loss and gradients before a configuration is timed
(float64: to 1e-10), or the run stops; timing is round-robin, reporting medians (timing.py),
with BLAS on one thread (machine.py).

    python benchmarks/bench_rnn.py                       # the table and the goals, float64 (a few minutes)
    python benchmarks/bench_rnn.py --node-cost --markdown out.md   # also the per-node cost; docs' tables
    python benchmarks/bench_rnn.py --dtype float32 --cells lstm --configs 50,32,64,128,64
    python benchmarks/bench_rnn.py --profile --cells lstm --configs 100,1,16,32,16
    python benchmarks/bench_rnn.py --scan docs/images/perf   # time vs T and vs H, as plots
    python benchmarks/bench_rnn.py --baseline before.json    # ours now against an earlier run
"""
from __future__ import annotations

import machine  # first: pins BLAS to one thread before numpy loads

# isort: split
import argparse
import datetime
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import implementations
import node_cost
import report
from problem import CELLS, CONFIGS, QUICK_CONFIGS, Config
from timing import Result, measure


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", nargs="+", choices=CELLS, default=list(CELLS), help="recurrent cells")
    parser.add_argument("--configs", nargs="+", type=Config.parse, metavar="T,B,D,H,K",
                        help=f"configurations (default: {', '.join(map(str, CONFIGS))})")
    parser.add_argument("--dtype", nargs="+", choices=("float64", "float32"), default=["float64"])
    parser.add_argument("--impls", nargs="+", choices=tuple(implementations.OPTION_NAMES),
                        default=["ours", "torch-autograd", "torch-fused"],
                        help="implementations besides the numpy floor's two forms (always run: the reference)")
    parser.add_argument("--reps", type=int, help="timed rounds per configuration (default: fit --budget)")
    parser.add_argument("--budget", type=float, default=5.0, help="seconds of timed rounds per configuration")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds after the verification call")
    parser.add_argument("--quick", action="store_true", help="tiny configurations, seconds (a smoke test)")
    parser.add_argument("--json", type=Path, help="where to write the results (default: benchmarks/results/"
                        "latest.json, or scan.json with --scan)")
    parser.add_argument("--markdown", type=Path, help="also write the tables for docs/performance.md here")
    parser.add_argument("--baseline", type=Path, help="an earlier --json output to compare ours with")
    parser.add_argument("--node-cost", action="store_true",
                        help="after the table: time per graph node of ours and the micro engine, on the first "
                             "cell at the first configuration (node_cost.py)")
    parser.add_argument("--profile", action="store_true",
                        help="instead of the table: cProfile ours on the first cell, config and dtype")
    parser.add_argument("--profile-top", type=int, default=25)
    parser.add_argument("--profile-sort", choices=("tottime", "cumulative"), default="tottime")
    parser.add_argument("--scan", type=Path, metavar="PREFIX",
                        help="instead of the table: time against T and H on the first cell, "
                             "saved as PREFIX-T.png, PREFIX-H.png")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.reps is not None and args.reps < 1:
        parser.error("--reps must be at least 1")
    if args.warmup < 1:
        parser.error("--warmup must be at least 1 (its last round sets the number of timed rounds)")
    if args.json is None:
        args.json = machine.RESULTS / ("scan.json" if args.scan is not None else "latest.json")
    if args.configs is None:
        args.configs = list(QUICK_CONFIGS if args.quick else CONFIGS)
    if args.quick:
        args.reps, args.warmup = args.reps or 3, 1
    args.impl_names = list(implementations.FLOORS) + [implementations.OPTION_NAMES[i] for i in args.impls]
    if any(name.startswith("torch") for name in args.impl_names) and not implementations.torch_available():
        print("torch is not installed: timing without it")
        args.impl_names = [name for name in args.impl_names if not name.startswith("torch")]
    return args


def table(args: argparse.Namespace, record: dict[str, Any]) -> list[Result]:
    """Every cell x configuration x dtype, each verified and timed in its own round-robin."""
    results: list[Result] = []
    start = time.perf_counter()
    for dtype in args.dtype:
        for config in args.configs:
            for cell in args.cells:
                results += measure(cell, [config], dtype, args.impl_names, args.reps, args.budget, args.warmup,
                                   args.seed)
                print(f"  {cell.upper()} {config} {dtype} verified and timed", flush=True)
    print(f"\nmedians over round-robin repetitions after the verification call and {args.warmup} warm-up round(s); "
          f"/floor = ratio of medians to the faster numpy form; paired = median of the per-round ratios (less "
          f"sensitive to load drifting); max err = worst error against the projected numpy (loss and gradients); "
          f"{time.perf_counter() - start:.0f} s\n")
    report.print_table(results)
    record["results"] = [asdict(r) for r in results]
    record["goals"] = report.evaluate_goals(results)
    report.print_goals(record["goals"])
    return results


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    info = machine.record()
    print(machine.describe(info))
    if args.profile:
        import profiling
        profiling.profile(args.cells[0], args.configs[0], args.dtype[0], args.profile_top, args.profile_sort,
                          seconds=0.5 if args.quick else 3.0)
        return 0
    record: dict[str, Any] = {"command": " ".join(["bench_rnn.py", *(sys.argv[1:] if argv is None else argv)]),
                              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                              "machine": info}
    if args.scan is not None:
        import scan
        print(f"scan: {args.cells[0].upper()} {args.dtype[0]}, implementations {', '.join(args.impl_names)}")
        record["scans"] = scan.scan(args.cells[0], args.dtype[0], args.impl_names, args.scan, args.quick,
                                    budget=0.3 if args.quick else 1.5, reps=args.reps)
    else:
        results = table(args, record)
        if args.baseline is not None:
            report.print_baseline(results, args.baseline)
        if args.node_cost:
            record["node_cost"] = [node_cost.measure_node_cost(args.cells[0], args.configs[0], args.dtype[0],
                                                               args.budget, args.reps, seed=args.seed)]
            node_cost.print_node_cost(record["node_cost"][0])
        if args.markdown is not None:
            text = report.markdown(results, record["goals"])
            if args.node_cost:
                text += "\n" + node_cost.markdown(record["node_cost"])
            args.markdown.parent.mkdir(parents=True, exist_ok=True)
            args.markdown.write_text(text)
            print(f"\nwrote {args.markdown}")
    record["load_average_at_end"] = machine.load_average()
    print(f"\nload average at the end: {record['load_average_at_end']}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
