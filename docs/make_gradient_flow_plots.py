"""Make the figures of docs/gradient-flow.md (a minute or two on one core).

    .venv/bin/python docs/make_gradient_flow_plots.py [output folder, default docs/images]

The first two figures: every model reads the same 8 random sequences of 50 steps, and the loss
is on the last hidden state only, so they show how far back from h_50 the gradient reaches.
The third: SGD with and without clip_grad_norm_ on an RNN whose gradients explode.
The set-up is the one the code on docs/gradient-flow.md uses, so the figures show the numbers
that page prints.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import micrograd_seq as mg
from micrograd_seq.teaching import plot_gradient_flow

T, B, D, H, K = 50, 8, 4, 16, 4
SEEDS = range(6)


def the_data() -> tuple[np.ndarray, np.ndarray]:
    """8 sequences of 50 steps of 4 features, and one class in 0..3 per sequence."""
    rng = np.random.default_rng(0)
    return rng.normal(size=(T, B, D)), rng.integers(0, K, B)


def last_step_loss(targets: np.ndarray):
    """Cross-entropy of a Linear readout of h_T, the last hidden state."""
    mg.manual_seed(0)
    head = mg.nn.Linear(H, K)
    return lambda output: mg.functional.cross_entropy(head(output[-1]), targets, reduction="sum")


def at_init(kind: str, gate_bias: float = 0.0) -> mg.nn.Module:
    """An RNN, LSTM or GRU at torch's initialisation.

    ``gate_bias`` is added to the LSTM's forget or the GRU's update gate.
    """
    mg.manual_seed(1)
    layer = getattr(mg.nn, kind)(D, H)
    if gate_bias:
        layer.bias_ih_l0.data[H:2 * H] += gate_bias  # rows H..2H hold f in (i, f, g, o) and z in (r, z, n)
    return layer


def rnn_with_gain(gain: float, inputs: int = D, seed: int = 1) -> mg.nn.RNN:
    """A tanh RNN with recurrent weights N(0, gain^2 / H): their spectral radius is close to ``gain``."""
    mg.manual_seed(seed)
    rnn = mg.nn.RNN(inputs, H)
    rnn.weight_hh_l0.data[...] = np.random.default_rng(seed).normal(0.0, gain / np.sqrt(H), (H, H))
    return rnn


def train_delayed_copy(clip: float | None, seed: int, gain: float = 2.0, steps: int = 200,
                       lr: float = 0.3) -> np.ndarray:
    """SGD on "output the symbol seen 2 steps ago" (4 symbols, 16 sequences of 50 steps).

    Returns one row per step: the loss, the gradient norm before clipping, and the fraction
    of hidden values in tanh's flat tails (|h| > 0.99), where the gradient dies.
    """
    symbols = np.random.default_rng(0).integers(0, K, (T, 16))
    x, targets = np.eye(K)[symbols], symbols[:-2].reshape(-1)
    rnn = rnn_with_gain(gain, inputs=K, seed=seed)
    head = mg.nn.Linear(H, K)
    params = [*rnn.parameters(), *head.parameters()]
    optimizer = mg.optim.SGD(params, lr=lr)
    rows = []
    for _ in range(steps):
        output, _ = rnn(x)
        loss = mg.functional.cross_entropy(head(output[2:]).reshape(-1, K), targets)
        optimizer.zero_grad()
        loss.backward()
        norm = mg.nn.utils.clip_grad_norm_(params, clip if clip is not None else float("inf"))
        optimizer.step()
        rows.append((loss.item(), norm, float((np.abs(output.data) > 0.99).mean())))
    return np.array(rows)


def plot_clipping(path: Path, clip: float = 1.0) -> None:
    from matplotlib.figure import Figure
    fig = Figure(figsize=(13, 3.8), layout="constrained")
    axes = fig.subplots(1, 3)
    for max_norm, color, label in ((None, "tab:red", "no clipping"), (clip, "tab:blue", f"clip_grad_norm_({clip})")):
        for seed in SEEDS:
            rows = train_delayed_copy(max_norm, seed)
            for ax, column in zip(axes, rows.T, strict=True):
                ax.plot(column, color=color, alpha=0.6, lw=1, label=label if seed == 0 else None)
            print(f"{label:>20} seed {seed}: loss {rows[0, 0]:.3f} -> {rows[-20:, 0].mean():.3f}, "
                  f"saturated at the end {rows[-1, 2]:.2f}")
    axes[0].set(ylabel="training loss (mean cross-entropy)", ylim=(0, 1.6))
    axes[1].set(ylabel="gradient norm before clipping", yscale="log")
    axes[1].axhline(clip, color="k", lw=0.8, ls="--")
    axes[2].set(ylabel="fraction of |h| > 0.99 (tanh saturated)", ylim=(0, 1))
    for ax in axes:
        ax.set_xlabel("SGD step (lr 0.3)")
        ax.grid(True, alpha=0.3)
    axes[0].legend()
    fig.suptitle("tanh RNN with recurrent gain 2, six initialisations each: SGD with and without clipping")
    fig.savefig(path, dpi=110)


def main(folder: Path) -> None:
    x, targets = the_data()
    loss_fn = last_step_loss(targets)
    layers = {kind: at_init(kind) for kind in ("RNN", "LSTM", "GRU")}
    layers["LSTM, forget-gate bias +3"] = at_init("LSTM", 3.0)
    layers["GRU, update-gate bias +3"] = at_init("GRU", 3.0)
    path = plot_gradient_flow(layers, x, loss_fn, folder / "gradient-flow-vanishing.png",
                              "vanishing: 50 steps back from a loss on h_50")
    print(f"wrote {path}")
    gains = {f"RNN, gain {gain}": rnn_with_gain(gain) for gain in (0.5, 1, 2, 3)}
    path = plot_gradient_flow(gains, x, loss_fn, folder / "gradient-flow-exploding.png",
                              "exploding: tanh RNNs with recurrent weights N(0, gain²/H)")
    print(f"wrote {path}")
    path = folder / "gradient-flow-clipping.png"
    plot_clipping(path)
    print(f"wrote {path}")


if __name__ == "__main__":
    mg.set_default_dtype(np.float64)
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "images")
