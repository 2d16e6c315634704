"""Race hand-written numpy variants against the floor: a floor that someone can beat is not a floor.

Every contender is verified against the floor (loss and gradients to 1e-10 in float64) and then
timed with both of the floor's forms (``numpy``: projected, ``numpy fused``) in one interleaved
round-robin, like bench_rnn.py; ratios are to the faster form, as in bench_rnn. The contenders:

- ``floor again``: the projected form a second time, the A/A pair: how far two identical
  implementations land apart in this run, i.e. the noise a real difference must exceed;
- ``per-step factors``: the projected form with blocks of one time step: the derivative factors
  of each backward step computed just before it, the way a textbook BPTT loop does;
- ``whole-sequence factors``: the projected form with one block: every step's factors at once;
- ``previous floor``: the floor before issue 16 (per-step temporaries, a five-call capped
  sigmoid, the head's softmax with two exps), the one the issue found 1.48x too slow.

    python benchmarks/floor_race.py                              # 3 cells x 4 configs, float64
    python benchmarks/floor_race.py --dtype float32 --cells lstm --configs 100,1,16,32,16

benchmarks/README.md records the results and the variants that lost.
"""
from __future__ import annotations

import machine  # first: pins BLAS to one thread before numpy loads

# isort: split
import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from implementations import Implementation, NumpyFloor, verify
from problem import CELLS, CONFIGS, Config, Problem, make_problem
from timing import Result, summarise, time_round_robin

__all__ = ["CONTENDERS", "PreviousFloor", "make_contenders", "race", "markdown", "main"]

CONTENDERS = ("floor again", "per-step factors", "whole-sequence factors", "previous floor")
Params = dict[str, np.ndarray]


# ---- the previous floor (until issue 16), kept to race against --------------------------------------

def _capped_sigmoid(x: np.ndarray) -> np.ndarray:
    t = np.negative(x)
    np.minimum(t, np.floor(np.log(np.finfo(t.dtype).max)), out=t)
    np.exp(t, out=t)
    t += 1.0
    return np.reciprocal(t, out=t)


def _previous_loss_and_grads(cell: str, p: Params, x: np.ndarray, targets: np.ndarray) -> tuple[float, Params]:
    T, B, D = x.shape
    H = p["weight_hh"].shape[1]
    W_hh, W_hh_T = p["weight_hh"], p["weight_hh"].T
    bias = p["bias_ih"] + p["bias_hh"]
    if cell == "gru":
        bias = p["bias_ih"].copy()
        bias[:2 * H] += p["bias_hh"][:2 * H]
    gates = (x.reshape(T * B, D) @ p["weight_ih"].T + bias).reshape(T, B, -1)
    hs = np.zeros((T + 1, B, H), dtype=x.dtype)
    if cell == "lstm":
        cs, tanh_cs = np.zeros_like(hs), np.empty_like(hs[1:])
    elif cell == "gru":
        h_ns = np.empty_like(hs[1:])
    for t in range(T):
        a = gates[t]
        if cell == "rnn":
            hs[t + 1] = np.tanh(a + hs[t] @ W_hh_T)
        elif cell == "lstm":
            a += hs[t] @ W_hh_T
            a[:, :2 * H] = _capped_sigmoid(a[:, :2 * H])
            a[:, 2 * H:3 * H] = np.tanh(a[:, 2 * H:3 * H])
            a[:, 3 * H:] = _capped_sigmoid(a[:, 3 * H:])
            cs[t + 1] = a[:, H:2 * H] * cs[t] + a[:, :H] * a[:, 2 * H:3 * H]
            tanh_cs[t] = np.tanh(cs[t + 1])
            hs[t + 1] = a[:, 3 * H:] * tanh_cs[t]
        else:
            h_proj = hs[t] @ W_hh_T
            a[:, :2 * H] = _capped_sigmoid(a[:, :2 * H] + h_proj[:, :2 * H])
            h_ns[t] = h_proj[:, 2 * H:] + p["bias_hh"][2 * H:]
            a[:, 2 * H:] = np.tanh(a[:, 2 * H:] + a[:, :H] * h_ns[t])
            hs[t + 1] = a[:, 2 * H:] + a[:, H:2 * H] * (hs[t] - a[:, 2 * H:])
    h2d = hs[1:].reshape(T * B, H)
    logits = h2d @ p["head.weight"].T + p["head.bias"]
    logits -= logits.max(axis=1, keepdims=True)
    logits -= np.log(np.exp(logits).sum(axis=1, keepdims=True))
    rows, picked = np.arange(T * B), targets.reshape(-1)
    loss = float(-logits[rows, picked].sum())
    dlogits = np.exp(logits)
    dlogits[rows, picked] -= 1.0
    grads = {"head.weight": dlogits.T @ h2d, "head.bias": dlogits.sum(axis=0)}
    d_out = (dlogits @ p["head.weight"]).reshape(T, B, H)
    d_in = np.empty_like(gates)
    d_hid = np.empty_like(gates) if cell == "gru" else d_in
    dh_next, dc_next = np.zeros_like(hs[0]), np.zeros_like(hs[0])
    for t in reversed(range(T)):
        a = gates[t]
        dh = d_out[t] + dh_next
        if cell == "rnn":
            d_in[t] = dh * (1.0 - hs[t + 1] * hs[t + 1])
            dh_next = d_in[t] @ W_hh
        elif cell == "lstm":
            i, f, g, o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
            dc = dc_next + dh * o * (1.0 - tanh_cs[t] * tanh_cs[t])
            d = d_in[t]
            d[:, :H] = dc * g * i * (1.0 - i)
            d[:, H:2 * H] = dc * cs[t] * f * (1.0 - f)
            d[:, 2 * H:3 * H] = dc * i * (1.0 - g * g)
            d[:, 3 * H:] = dh * tanh_cs[t] * o * (1.0 - o)
            dc_next = dc * f
            dh_next = d @ W_hh
        else:
            r, z, n = a[:, :H], a[:, H:2 * H], a[:, 2 * H:]
            dn_pre = dh * (1.0 - z) * (1.0 - n * n)
            d_rz = d_hid[t, :, :2 * H]
            d_rz[:, :H] = dn_pre * h_ns[t] * r * (1.0 - r)
            d_rz[:, H:] = dh * (hs[t] - n) * z * (1.0 - z)
            d_hid[t, :, 2 * H:] = dn_pre * r
            d_in[t, :, :2 * H] = d_rz
            d_in[t, :, 2 * H:] = dn_pre
            dh_next = dh * z + d_hid[t] @ W_hh
    d_in2d, d_hid2d = d_in.reshape(T * B, -1), d_hid.reshape(T * B, -1)
    grads.update({"weight_ih": d_in2d.T @ x.reshape(T * B, D), "weight_hh": d_hid2d.T @ hs[:-1].reshape(T * B, H),
                  "bias_ih": d_in2d.sum(axis=0), "bias_hh": d_hid2d.sum(axis=0)})
    return loss, grads


class PreviousFloor:
    """numpy_bptt.py as it was until issue 16."""

    name = "previous floor"

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.params = problem.model.numpy_params()
        self._grads: Params = {}

    def forward(self) -> Problem:
        return self.problem  # one function does both passes

    def backward(self, problem: Problem) -> float:
        loss, self._grads = _previous_loss_and_grads(problem.cell, self.params, problem.x, problem.targets)
        return loss

    def step(self) -> float:
        return self.backward(self.forward())

    def grads(self) -> Params:
        return self._grads


def make_contenders(problem: Problem, names: Sequence[str]) -> list[Implementation]:
    """The floor's two forms first, then the named contenders, all on ``problem``."""
    made: list[Implementation] = [NumpyFloor(problem), NumpyFloor(problem, fused=True)]
    for name in names:
        if name == "floor again":
            made.append(NumpyFloor(problem, name=name))
        elif name == "per-step factors":
            made.append(NumpyFloor(problem, block_steps=1, name=name))
        elif name == "whole-sequence factors":
            made.append(NumpyFloor(problem, block_steps=problem.config.T, name=name))
        elif name == "previous floor":
            made.append(PreviousFloor(problem))
        else:
            raise ValueError(f"unknown contender {name!r}; expected one of {CONTENDERS}")
    return made


def race(cell: str, config: Config, dtype: Any, names: Sequence[str], budget: float, reps: int | None,
         seed: int = 0) -> list[Result]:
    """Verify the contenders against the floor, then time them all in one round-robin."""
    problem = make_problem(cell, config, dtype, seed)
    impls = make_contenders(problem, names)
    errors = verify(impls, problem.dtype)
    times = time_round_robin(impls, reps, budget, warmup=2, min_reps=7, max_reps=201)
    return summarise(cell, config, dtype, {impl.name: t for impl, t in zip(impls, times, strict=True)}, errors)


def print_race(results: Sequence[Result]) -> None:
    first = results[0]
    print(f"{first.cell.upper():5} {first.dtype:7} {first.config}: the floor is {first.floor!r} "
          f"({first.reps} rounds)")
    for r in results:
        print(f"{'':8} {r.impl:24} {r.median_s * 1e3:10.3f} ms  ratio {r.ratio_to_numpy:5.2f}  paired "
              f"{r.paired_ratio:5.2f}  err {r.max_error:.0e}")


def markdown(results: Sequence[Result]) -> str:
    """One row per cell, dtype and configuration: the floor's median and each other implementation's
    ratio of medians to it (paired ratio in brackets)."""
    names = list(dict.fromkeys(r.impl for r in results))
    lines = ["| cell | dtype | (T, B, D, H, K) | floor ms (form) | " + " | ".join(names) + " | rounds |",
             "|---|---|---|---:|" + "---:|" * len(names) + "---:|"]
    groups: dict[tuple, dict[str, Result]] = {}
    for r in results:
        groups.setdefault((r.cell, r.dtype, r.config), {})[r.impl] = r
    for (cell, dtype, config), group in groups.items():
        floor = group[next(iter(group.values())).floor]
        form = "fused" if floor.impl == "numpy fused" else "projected"
        cells = [f"{group[n].ratio_to_numpy:.2f} ({group[n].paired_ratio:.2f})" if n in group else "-" for n in names]
        lines.append(f"| {cell.upper()} | {dtype} | {config} | {floor.median_s * 1e3:.3g} ({form}) | "
                     + " | ".join(cells) + f" | {floor.reps} |")
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", nargs="+", choices=CELLS, default=list(CELLS))
    parser.add_argument("--configs", nargs="+", type=Config.parse, metavar="T,B,D,H,K", default=list(CONFIGS))
    parser.add_argument("--dtype", nargs="+", choices=("float64", "float32"), default=["float64"])
    parser.add_argument("--contenders", nargs="+", choices=CONTENDERS, default=list(CONTENDERS))
    parser.add_argument("--budget", type=float, default=5.0, help="seconds of timed rounds per configuration")
    parser.add_argument("--reps", type=int, help="timed rounds per configuration (default: fit --budget)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--markdown", type=Path, help="also write the results as a markdown table here")
    args = parser.parse_args(argv)
    if args.reps is not None and args.reps < 1:
        parser.error("--reps must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    print(machine.describe(machine.record()))
    print("ratio = median / the floor's median; paired = median over rounds of time / the floor's in that round\n")
    results: list[Result] = []
    for dtype in args.dtype:
        for config in args.configs:
            for cell in args.cells:
                group = race(cell, config, dtype, args.contenders, args.budget, args.reps)
                print_race(group)
                results += group
    print(f"\nload average at the end: {machine.load_average()}")
    if args.markdown is not None:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(markdown(results))
        print(f"wrote {args.markdown}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"machine": machine.record(), "results": [vars(r) for r in results]},
                                        indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
