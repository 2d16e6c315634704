"""Memory of BPTT: one training step of ours against what hand-written BPTT must keep, and a long sequence.

1. Peak traced memory (tracemalloc; numpy reports its arrays to it) of one forward + backward
   of ours and of the hand-written numpy, against the bytes of the activations the numpy
   BPTT saves for its backward (counted exactly: numpy_bptt.saved_bytes). Params and inputs
   exist before the measurement; the gradients made by the step count in its peak.
2. Truncated BPTT over a 100,000-step sequence (chunks of 100 steps, the state detached
   between chunks): the peak must not grow with the number of chunks.

    python benchmarks/bench_memory.py
    python benchmarks/bench_memory.py --cells lstm --configs 50,32,64,128,64 --steps 20000
"""
from __future__ import annotations

import machine  # first: pins BLAS to one thread before numpy loads

# isort: split
import argparse
import gc
import json
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy_bptt
from implementations import Ours
from problem import CELLS, CONFIGS, QUICK_CONFIGS, Config, SequenceModel, make_problem

import micrograd_seq as mg

DEFAULT_JSON = machine.RESULTS / "memory.json"
GOAL = 1.5  # the issue's: peak of a step of ours <= 1.5 x the activations BPTT must keep
BOUNDED = 1.05  # the peak after all steps may exceed the first checkpoint's by 5 % (interpreter caches)
MB = 2.0 ** 20


def traced_peak(fn: Callable[[], Any]) -> int:
    """Bytes by which the traced memory peaked above its level when ``fn`` started."""
    gc.collect()
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()


def step_memory(cell: str, config: Config, dtype: str) -> dict[str, Any]:
    """Saved activations of the numpy BPTT, and the peak of one step of numpy and of ours."""
    problem = make_problem(cell, config, dtype)
    params = problem.model.numpy_params()
    _, saved = numpy_bptt.forward(cell, params, problem.x, problem.targets)
    saved_by_name = {name: a.nbytes for name, a in saved.items()}
    saved_total = numpy_bptt.saved_bytes(saved)
    del saved
    numpy_peak = traced_peak(lambda: numpy_bptt.loss_and_grads(cell, params, problem.x, problem.targets))
    ours = Ours(problem)
    ours.step()  # warm-up: anything built once is not part of a step
    ours.model.zero_grad()
    ours_peak = traced_peak(ours.step)
    return {"cell": cell, "dtype": dtype, **vars(config), "saved_bytes": saved_total, "saved_by_name": saved_by_name,
            "param_bytes": sum(a.nbytes for a in params.values()), "numpy_peak_bytes": numpy_peak,
            "ours_peak_bytes": ours_peak, "ours_ratio": ours_peak / saved_total,
            "numpy_ratio": numpy_peak / saved_total}


def print_step_table(rows: Sequence[dict[str, Any]]) -> None:
    print("\nOne forward + backward: peak traced memory against the activations hand-written BPTT saves")
    header = (f"{'cell':5} {'(T, B, D, H, K)':24} {'dtype':7} {'saved MB':>9} {'params MB':>9} {'numpy peak':>10} "
              f"{'ours peak':>10} {'numpy/saved':>11} {'ours/saved':>10}  goal <= {GOAL}")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['cell']:5} {str(Config(r['T'], r['B'], r['D'], r['H'], r['K'])):24} {r['dtype']:7} "
              f"{r['saved_bytes'] / MB:9.3f} {r['param_bytes'] / MB:9.3f} {r['numpy_peak_bytes'] / MB:10.3f} "
              f"{r['ours_peak_bytes'] / MB:10.3f} {r['numpy_ratio']:11.2f} {r['ours_ratio']:10.2f}  "
              f"{'yes' if r['ours_ratio'] <= GOAL else 'NO'}")


# ---- truncated BPTT over a long sequence ---------------------------------------------------------

def echo_chunks(steps: int, chunk: int, batch: int, classes: int, delay: int, seed: int):
    """(one-hot inputs, targets) chunk by chunk: the target at t is the token at t - delay."""
    rng = np.random.default_rng(seed)
    history = np.zeros((delay, batch), dtype=np.int64)
    eye = np.eye(classes)
    for _ in range(steps // chunk):
        tokens = rng.integers(0, classes, size=(chunk, batch))
        both = np.concatenate([history, tokens])
        history = both[-delay:]
        yield eye[tokens], both[:chunk]


def truncated_bptt(cell: str, steps: int, chunk: int, batch: int, hidden: int, classes: int, delay: int = 2,
                   seed: int = 0) -> list[dict[str, Any]]:
    """Train on a ``steps``-long echo sequence in chunks; the peak traced memory at 1/100, 1/10 and all of it."""
    mg.set_default_dtype(np.float64)
    mg.manual_seed(seed)
    model = SequenceModel(cell, Config(chunk, batch, classes, hidden, classes))
    optimizer = mg.optim.Adam(model.parameters(), lr=1e-2)
    checkpoints = sorted({max(chunk, steps // 100 // chunk * chunk), max(chunk, steps // 10 // chunk * chunk),
                          steps // chunk * chunk})
    print(f"\nTruncated BPTT: {cell.upper()} H={hidden}, batch {batch}, {steps:,} steps in chunks of {chunk}, "
          f"state detached between chunks; task: echo the token from {delay} steps back ({classes} classes)")
    print(f"{'steps':>9} {'peak MB':>9} {'current MB':>10} {'loss/step':>10} {'seconds':>8}")
    rows, state, done, window_loss, window_steps = [], None, 0, 0.0, 0
    gc.collect()
    tracemalloc.start()
    start = time.perf_counter()
    try:
        for x, targets in echo_chunks(steps, chunk, batch, classes, delay, seed):
            loss, state = model(mg.tensor(x, dtype=np.float64), targets, state)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
            done += chunk
            window_loss += loss.item()
            window_steps += chunk * batch
            if done in checkpoints:
                peak = tracemalloc.get_traced_memory()[1]
                gc.collect()  # the interpreter's free lists grow until a full collection clears them
                current = tracemalloc.get_traced_memory()[0]
                rows.append({"steps": done, "peak_bytes": peak, "current_bytes": current,
                             "loss_per_step": window_loss / window_steps, "seconds": time.perf_counter() - start})
                print(f"{done:9,d} {peak / MB:9.3f} {current / MB:10.3f} {rows[-1]['loss_per_step']:10.4f} "
                      f"{rows[-1]['seconds']:8.1f}", flush=True)
                window_loss, window_steps = 0.0, 0
    finally:
        tracemalloc.stop()
    growth = rows[-1]["peak_bytes"] / rows[0]["peak_bytes"]
    print(f"peak after {rows[-1]['steps']:,} steps is {growth:.3f}x the peak after {rows[0]['steps']:,}: "
          + ("bounded" if growth <= BOUNDED else "GROWING"))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", nargs="+", choices=CELLS, default=list(CELLS))
    parser.add_argument("--configs", nargs="+", type=Config.parse, metavar="T,B,D,H,K")
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    parser.add_argument("--steps", type=int, default=100_000, help="length of the truncated-BPTT sequence")
    parser.add_argument("--chunk", type=int, default=100, help="steps per truncated-BPTT chunk")
    parser.add_argument("--quick", action="store_true", help="tiny configurations and a 2,000-step sequence")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args(argv)
    if args.quick:
        args.configs = args.configs or list(QUICK_CONFIGS)
        args.steps, args.chunk = min(args.steps, 2000), min(args.chunk, 10)
    if args.chunk < 1 or args.steps < args.chunk:
        parser.error("--chunk must be at least 1 and --steps at least --chunk")
    rows = [step_memory(cell, config, args.dtype) for config in args.configs or CONFIGS for cell in args.cells]
    print_step_table(rows)
    long_run = truncated_bptt(args.cells[0], args.steps, args.chunk, batch=8, hidden=32, classes=10)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"step": rows, "truncated_bptt": long_run, "goal": GOAL}, indent=1) + "\n")
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
