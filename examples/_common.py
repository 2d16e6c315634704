"""What every example shares: its command line, seeding, output folder, progress bar, plots and RESULT line.

Each example is run as a script (``python examples/NAME.py``), so this module is imported by
its plain name from the examples folder.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

import numpy as np

import micrograd_seq as mg

EXTRA = "pip install 'micrograd-seq[examples]'"
MISSING_DATA = 3  # the exit status when a package or a data file is missing (tests tell it from a failure)


def missing(message: str) -> NoReturn:
    """Exit with a one-line message saying what is missing and how to get it."""
    print(f"{Path(sys.argv[0]).name}: {message}", file=sys.stderr)
    sys.exit(MISSING_DATA)


def need(module: str, package: str) -> ModuleType:
    """Import ``module``, or exit with a one-line message saying which package to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        missing(f"this example needs {package}; install it with `pip install {package}` or `{EXTRA}`")


def parser(description: str) -> argparse.ArgumentParser:
    """The options every example takes: --quick, --seed and --out."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="a small version that runs in seconds (for tests)")
    p.add_argument("--seed", type=int, default=0, help="seed for data splits and initialisation (default 0)")
    p.add_argument("--out", type=Path, default=Path("out"), help="folder for plots and other output (default out/)")
    return p


def start(p: argparse.ArgumentParser) -> tuple[argparse.Namespace, np.random.Generator]:
    """Parse the command line, seed everything, make the output folder; returns (args, numpy generator)."""
    args = p.parse_args()
    mg.manual_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    need("matplotlib", "matplotlib").use("Agg")
    return args, np.random.default_rng(args.seed)


class Progress:
    """A tqdm progress bar of ``total`` steps that shows a running mean of the loss."""

    def __init__(self, total: int, desc: str, decay: float = 0.95) -> None:
        tqdm = need("tqdm", "tqdm").tqdm
        self.bar = tqdm(total=total, desc=desc, unit="step", dynamic_ncols=True, mininterval=0.5)
        self.decay, self.loss = decay, None

    def step(self, loss: float) -> None:
        """Advance one step, folding ``loss`` into the running mean on display."""
        self.loss = loss if self.loss is None else self.decay * self.loss + (1 - self.decay) * loss
        self.bar.set_postfix(loss=f"{self.loss:.4g}", refresh=False)
        self.bar.update()

    def write(self, line: str) -> None:
        """Print a line above the bar without breaking it."""
        self.bar.write(line)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.bar.close()


def minibatches(n: int, batch_size: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Shuffled index arrays covering range(n) once, ``batch_size`` at a time (the last one may be short)."""
    order = rng.permutation(n)
    for i in range(0, n, batch_size):
        yield order[i:i + batch_size]


def save_figure(fig: Any, out: Path, name: str) -> Path:
    """Write a matplotlib figure to ``out/name`` (small PNG) and close it."""
    import matplotlib.pyplot as plt
    path = out / name
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    print(f"wrote {path}")
    return path


def result(metric: str, value: float, baseline: float) -> None:
    """Print the last line every example ends with: RESULT: metric=value (baseline value)."""
    print(f"RESULT: {metric}={value:.4g} (baseline {baseline:.4g})")


class ManyToOne(mg.nn.Module):
    """A recurrent layer read to the end of each sequence, then a linear layer on its last hidden state.

    With ``num_embeddings`` the input is token ids, looked up in an Embedding first (``padding_idx``:
    the id that pads). With ``lengths`` the batch is padded at the end and is packed
    (``pack_padded_sequence``), so the layer stops at each sequence's own last step and never reads
    the padding; its final hidden state is then each sequence's last one.
    """

    def __init__(self, cell: str, input_size: int, hidden_size: int, output_size: int,
                 num_embeddings: int | None = None, padding_idx: int | None = None) -> None:
        super().__init__()
        self.embedding = (mg.nn.Embedding(num_embeddings, input_size, padding_idx=padding_idx)
                          if num_embeddings else None)
        self.rnn = mg.nn.CELLS[cell].layer(input_size, hidden_size, batch_first=True)
        self.head = mg.nn.Linear(hidden_size, output_size)

    def forward(self, x: Any, lengths: np.ndarray | None = None) -> mg.Tensor:
        if self.embedding is not None:
            x = self.embedding(x)
        if lengths is None:
            out, _ = self.rnn(x)
            return self.head(out[:, -1])
        packed = mg.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        _, state = self.rnn(packed)
        h_n = state[0] if isinstance(state, tuple) else state  # an LSTM's state is (h_n, c_n)
        return self.head(h_n[-1])
