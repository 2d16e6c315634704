"""python -m micrograd_seq demo: a short tour of the engine."""
from __future__ import annotations

import argparse
import sys

import numpy as np

import micrograd_seq as mg


def demo() -> None:
    """Build a small graph, run backward, and say what happened."""
    x = mg.tensor([1.0, -2.0, 0.5], requires_grad=True, name="x")
    w = mg.tensor([0.3, 0.1, -0.2], requires_grad=True, name="w")
    y = (x * w).sum().tanh()
    y.backward()
    print(f"y = tanh(sum(x * w)) = {y.item():.6f}")
    print(f"dy/dx = {np.array2string(x.grad, precision=6)}  (= (1 - y^2) w)")
    print(f"dy/dw = {np.array2string(w.grad, precision=6)}  (= (1 - y^2) x)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m micrograd_seq", description=__doc__)
    parser.add_argument("command", choices=["demo"], help="what to run")
    parser.parse_args(argv)
    demo()
    return 0


if __name__ == "__main__":
    sys.exit(main())
