"""Draw an unrolled recurrent cell (RNN, LSTM, GRU, the zoo's or your own) without writing code.

    python -m micrograd_seq.viz --cell lstm --steps 3 --hidden 4 --out lstm.svg [--collapse t] [--grads]
    python -m micrograd_seq.viz --cell mycells:PeepholeCell --out peephole.svg   # a cell of your own

It builds a layer of that kind from ``mg.nn.CELLS``, runs it on a random sequence, takes a small loss on the
last output (so gradients flow back through every step), draws the graph and prints the path.
Any length draws within ``--max-nodes`` boxes. A bad argument exits with status 2 and one line
saying which and why.
"""
from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

import micrograd_seq as mg

from .._cli import Parser, folder_problem
from .draw import FORMATS, GraphvizNotFoundError, check_grad_range, save


def _cell(text: str) -> mg.nn.CellKind:
    """An argparse type: a registered cell kind, or ``module:Class`` for a cell of your own."""
    try:
        return mg.nn.cell_kind(text)
    except KeyError as err:
        if ":" in text:
            raise argparse.ArgumentTypeError(err.args[0]) from None
        known = ", ".join(map(repr, sorted(mg.nn.CELLS)))
        raise argparse.ArgumentTypeError(f"invalid choice: {text!r} (choose from {known}, "
                                         "or module:Class for a cell of your own)") from None
    except TypeError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _at_least(least: int) -> Callable[[str], int]:
    """An argparse type: a whole number no smaller than ``least``."""
    what = "a positive whole number" if least == 1 else f"a whole number >= {least}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
        return value
    return parse


_positive, _seed = _at_least(1), _at_least(0)


def _collapse(text: str) -> str | int:
    if text == "t":
        return "t"
    try:
        return _positive(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected 't' (time steps) or a scope depth >= 1, got {text!r}") from None


def parser() -> Parser:
    """The command line's options."""
    p = Parser(prog="python -m micrograd_seq.viz", description=__doc__.splitlines()[0])
    p.add_argument("--cell", type=_cell, default="lstm", metavar="KIND",
                   help=f"which cell: {', '.join(sorted(mg.nn.CELLS))}, or module:Class (default lstm)")
    p.add_argument("--steps", type=_positive, default=3, help="time steps to unroll (default 3)")
    p.add_argument("--hidden", type=_positive, default=4, help="hidden size (default 4)")
    p.add_argument("--input", type=_positive, default=3, help="input features per step (default 3)")
    p.add_argument("--batch", type=_positive, default=1, help="batch size (default 1)")
    p.add_argument("--seed", type=_seed, default=0, help="random seed for weights and data (default 0)")
    p.add_argument("--collapse", type=_collapse, default=None, help="'t' draws each time step as one box")
    p.add_argument("--grads", action="store_true", help="run backward and colour by gradient norm")
    p.add_argument("--grad-range", type=float, nargs=2, metavar=("LOW", "HIGH"), default=None,
                   help="with --grads: a fixed colour scale, e.g. 1e-8 1, to compare several drawings")
    p.add_argument("--max-nodes", type=_positive, default=500, help="most boxes to draw (default 500)")
    p.add_argument("--out", type=Path, required=True,
                   help=f"file to write: {', '.join(FORMATS)} (a missing folder is made)")
    return p


def _check_out(p: Parser, out: Path) -> None:
    """A file name with a known suffix, in a folder that exists or can be made, and can be written."""
    if out.is_dir():
        p.error(f"--out: {str(out)!r} is a folder; give a file name, e.g. {str(out / 'graph.svg')!r}")
    if out.suffix.lower() not in FORMATS:
        p.error(f"--out: cannot tell the format from {out.name!r}; use a name ending in {', '.join(FORMATS)}")
    problem = folder_problem(out.parent)
    if problem:
        p.error(f"--out: {problem}")


def main(argv: list[str] | None = None) -> int:
    """Build, run, draw; print the written path."""
    p = parser()
    args = p.parse_args(argv)
    _check_out(p, args.out)
    if args.grad_range is not None and not args.grads:
        p.error("--grad-range: it sets the colour scale of a gradient drawing; add --grads")
    try:
        grad_range = check_grad_range(args.grad_range, args.grads)
    except ValueError:
        low, high = args.grad_range
        p.error(f"--grad-range: expected 0 < LOW < HIGH (a log scale), got {low:g} {high:g}")
    mg.manual_seed(args.seed)
    try:
        layer = args.cell.layer(args.input, args.hidden)
        data = np.random.default_rng(args.seed).standard_normal((args.steps, args.batch, args.input))
        output, _ = layer(mg.tensor(data, name="x"))
    except MemoryError:
        p.error(f"not enough memory for {args.steps} steps of a {args.cell.name} with --hidden {args.hidden}, "
                f"--input {args.input} and --batch {args.batch}; choose smaller sizes")
    loss = (output[-1] ** 2).mean().named("loss")
    if args.grads:
        loss.backward(retain_all_grads=True)
    with warnings.catch_warnings():  # the drawing carries the same note
        warnings.simplefilter("ignore", UserWarning)
        try:
            path = save(loss, path=args.out, collapse=args.collapse, grads=args.grads, grad_range=grad_range,
                        max_nodes=args.max_nodes)
        except GraphvizNotFoundError as err:
            print(err, file=sys.stderr)
            return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
