"""Make the pictures of docs/visualizing.md (needs the Graphviz ``dot`` program).

    python docs/make_pictures.py                        # SVGs into docs/images/
    python docs/make_pictures.py --format png --out out/pictures

Each picture is the page's example: a layer from ``mg.nn`` run on a random sequence, with a
small loss on the last output so that gradients flow back through every step. The full graphs
are drawn top to bottom (``rankdir="TB"``), which fits a page column; the rows of steps left to right.
The replay page's screenshot comes from make_replay_screenshot.py.
"""
from __future__ import annotations

import argparse
import re
import warnings
from pathlib import Path

import numpy as np

import micrograd_seq as mg

IMAGES = Path(__file__).resolve().parent / "images"


def cell_with_values() -> mg.Tensor:
    """One RNNCell step with every value kept, for show_values."""
    mg.manual_seed(0)
    with mg.keep_values():
        return mg.nn.RNNCell(2, 3)(mg.tensor([[1.0, 2.0]], name="x"))


def unrolled_loss(kind: str, steps: int, hidden: int = 4, features: int = 3, seed: int = 0,
                  backward: bool = False, **layer_options) -> mg.Tensor:
    """mean(output[-1]^2) of ``mg.nn.<kind>`` over ``steps`` random inputs; optionally after backward."""
    mg.manual_seed(seed)
    layer = getattr(mg.nn, kind)(features, hidden, **layer_options)
    x = mg.tensor(np.random.default_rng(seed).standard_normal((steps, 1, features)), name="x")
    output, _ = layer(x)
    loss = (output[-1] ** 2).mean().named("loss")
    if backward:
        loss.backward(retain_all_grads=True)
    return loss


PICTURES = {
    "rnn": (lambda: unrolled_loss("RNN", 3), dict(rankdir="TB")),
    "lstm": (lambda: unrolled_loss("LSTM", 3), dict(rankdir="TB")),
    "gru": (lambda: unrolled_loss("GRU", 3), dict(rankdir="TB")),
    "lstm-collapsed": (lambda: unrolled_loss("LSTM", 6), dict(collapse="t")),
    "lstm-layers": (lambda: unrolled_loss("LSTM", 4, num_layers=2), dict(collapse="t")),
    "lstm-grads": (lambda: unrolled_loss("LSTM", 3, backward=True), dict(grads=True, rankdir="TB")),
    # The RNN and the LSTM over 20 steps on one colour scale, so their fading can be compared.
    "rnn-vanishing": (lambda: unrolled_loss("RNN", 20, hidden=8, backward=True),
                      dict(collapse="t", grads=True, grad_range=(1e-8, 1))),
    "lstm-20-grads": (lambda: unrolled_loss("LSTM", 20, hidden=8, backward=True),
                      dict(collapse="t", grads=True, grad_range=(1e-8, 1))),
    "rnn-cell-values": (cell_with_values, dict(show_values=True)),
    "rnn-60-strip": (lambda: unrolled_loss("RNN", 60, hidden=8, backward=True),
                     dict(collapse="t", grads=True, rankdir="TB")),
    "lstm-10000": (lambda: unrolled_loss("LSTM", 10_000), dict(max_nodes=60)),  # the first and last steps
}


def stable_ids(svg: str) -> str:
    """Box ids come from id(node), new on every run: number them in order of appearance instead,
    so a regenerated picture differs only where the drawing changed."""
    names: dict[str, str] = {}
    return re.sub(r"\bn\d{6,}\b", lambda m: names.setdefault(m[0], f"n{len(names)}"), svg)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--format", choices=("svg", "png", "pdf"), default="svg")
    parser.add_argument("--out", type=Path, default=IMAGES, help="folder to write into (default docs/images)")
    args = parser.parse_args()
    for name, (make_loss, options) in PICTURES.items():
        with warnings.catch_warnings():  # the long ones are collapsed on purpose; the picture says so
            warnings.simplefilter("ignore", UserWarning)
            path = mg.viz.save(make_loss(), path=args.out / f"viz-{name}.{args.format}", **options)
        if args.format == "svg":
            path.write_text(stable_ids(path.read_text(encoding="utf-8")), encoding="utf-8")
        print(path)


if __name__ == "__main__":
    main()
