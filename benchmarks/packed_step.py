"""An LSTM step over a packed batch against the plain step: CPU time per step and graph nodes.

Interleaved rep by rep in one process (plain, packed with every sequence full length, packed
with a shrinking batch), forward + backward, median CPU time per step; and the nodes each graph
holds, so the plain path's count can be compared across commits.

    python benchmarks/packed_step.py [--reps 151]
"""
from __future__ import annotations

import machine  # noqa: F401  (first: pins BLAS to one thread before numpy loads)

# isort: split
import argparse
import statistics
import time

import numpy as np

import micrograd_seq as mg
from micrograd_seq.nn.utils.rnn import pack_padded_sequence

T, B, D, H = 32, 8, 16, 32
SHRINKING = [32, 31, 31, 27, 25, 17, 16, 5]


def node_count(root: mg.Tensor) -> int:
    """The nodes of the graph that made ``root``."""
    seen, stack = set(), [root.node]
    while stack:
        node = stack.pop()
        if id(node) not in seen:
            seen.add(id(node))
            stack.extend(node.parents)
    return len(seen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=151, help="repetitions of each (default 151)")
    reps = parser.parse_args().reps
    mg.set_default_dtype(np.float64)
    mg.manual_seed(0)
    lstm = mg.nn.LSTM(D, H)
    x = np.random.default_rng(0).standard_normal((T, B, D))
    runs = {
        "plain": lambda: lstm(mg.tensor(x, requires_grad=True))[0].sum(),
        "packed, every length 32": lambda: lstm(pack_padded_sequence(mg.tensor(x, requires_grad=True),
                                                                     [T] * B))[0].data.sum(),
        f"packed, lengths {SHRINKING}": lambda: lstm(pack_padded_sequence(mg.tensor(x, requires_grad=True),
                                                                          SHRINKING))[0].data.sum(),
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(reps):
        for name, run in runs.items():
            start = time.process_time()
            run().backward()
            times[name].append(time.process_time() - start)
    print(f"LSTM T={T} B={B} D={D} H={H}, float64, forward + backward, median CPU time of {reps}")
    for name, run in runs.items():
        print(f"{name:48s} {statistics.median(times[name]) / T * 1e6:7.1f} us/step   {node_count(run()):4d} nodes")


if __name__ == "__main__":
    main()
