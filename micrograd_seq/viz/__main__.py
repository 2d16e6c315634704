"""Draw an unrolled RNN, LSTM or GRU without writing code.

    python -m micrograd_seq.viz --cell lstm --steps 3 --hidden 4 --out lstm.svg [--collapse t] [--grads]

It builds the layer from ``mg.nn``, runs it on a random sequence, takes a small loss on the
last output (so gradients flow back through every step), draws the graph and prints the path.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import micrograd_seq as mg

from .draw import FORMATS, GraphvizNotFoundError, save

_CELLS = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {value}")
    return value


def _collapse(text: str) -> str | int:
    if text == "t":
        return "t"
    try:
        return _positive(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected 't' (time steps) or a scope depth >= 1, got {text!r}") from None


def parser() -> argparse.ArgumentParser:
    """The command line's options."""
    p = argparse.ArgumentParser(prog="python -m micrograd_seq.viz", description=__doc__.splitlines()[0])
    p.add_argument("--cell", choices=sorted(_CELLS), default="lstm", help="which recurrent layer (default lstm)")
    p.add_argument("--steps", type=_positive, default=3, help="time steps to unroll (default 3)")
    p.add_argument("--hidden", type=_positive, default=4, help="hidden size (default 4)")
    p.add_argument("--input", type=_positive, default=3, help="input features per step (default 3)")
    p.add_argument("--batch", type=_positive, default=1, help="batch size (default 1)")
    p.add_argument("--seed", type=int, default=0, help="random seed for weights and data (default 0)")
    p.add_argument("--collapse", type=_collapse, default=None, help="'t' draws each time step as one box")
    p.add_argument("--grads", action="store_true", help="run backward and colour by gradient norm")
    p.add_argument("--out", type=Path, required=True, help=f"file to write: {', '.join(FORMATS)}")
    return p


def main(argv: list[str] | None = None) -> int:
    """Build, run, draw; print the written path."""
    p = parser()
    args = p.parse_args(argv)
    if args.out.suffix.lower() not in FORMATS:
        p.error(f"--out: cannot tell the format from {args.out.name!r}; use a name ending in {', '.join(FORMATS)}")
    mg.manual_seed(args.seed)
    layer = getattr(mg.nn, _CELLS[args.cell])(args.input, args.hidden)
    data = np.random.default_rng(args.seed).standard_normal((args.steps, args.batch, args.input))
    output, _ = layer(mg.tensor(data, name="x"))
    loss = (output[-1] ** 2).mean().named("loss")
    if args.grads:
        loss.backward(retain_all_grads=True)
    try:
        path = save(loss, path=args.out, collapse=args.collapse, grads=args.grads)
    except GraphvizNotFoundError as err:
        print(err, file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
